/**
 * Local files and directories this process writes for a while and then renames or removes (a
 * get's partial files, standard input kept for a put). Commands that write them remove them all
 * when interrupted (onInterruptRemoveScratch), so Ctrl-C leaves nothing half-written behind.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { BftmrError, ioReason } from './errors.ts';

const scratch = new Set<string>();

/** `p` is scratch until the returned function is called (it was renamed or removed). */
export function holdScratch(p: string): () => void {
  scratch.add(p);
  return () => { scratch.delete(p); };
}

/** Removes every scratch path now (the process is about to exit). */
export function removeScratch(): void {
  for (const p of scratch) fs.rmSync(p, { recursive: true, force: true });
  scratch.clear();
}

/**
 * Runs `fn`; if SIGINT or SIGTERM comes meanwhile, every scratch path goes and the process
 * exits 130, saying so.
 */
export async function onInterruptRemoveScratch<T>(fn: () => Promise<T>): Promise<T> {
  const onSignal = () => {
    removeScratch();
    process.stderr.write('\nbftmr: interrupted; nothing half-written was left\n');
    process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await fn();
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** A private temporary copy of a stream's bytes (see spool). */
export interface Spooled { file: string; size: number; remove: () => Promise<void> }

/**
 * `input`, read to its end into a private temporary file (a put reads its blocks more than once:
 * to upload, to answer fresh challenges, to retry on another node), for a source whose size is
 * not known before it is read: standard input, or a /proc file that says it holds 0 bytes.
 * `progress` gets the bytes read so far. The file is scratch until `remove()`.
 */
export async function spool(input: NodeJS.ReadableStream, what: string, progress: (bytes: number) => void = () => {}): Promise<Spooled> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'bftmr-spool-'));
  const release = holdScratch(dir);
  const remove = () => fsp.rm(dir, { recursive: true, force: true }).finally(release);
  const file = path.join(dir, 'data');
  let size = 0;
  try {
    await pipeline(input, async function* (chunks: AsyncIterable<string | Buffer>) {
      for await (const c of chunks) {
        size += c.length;
        progress(size);
        yield c;
      }
    }, fs.createWriteStream(file));
  } catch (e) {
    await remove();
    const reading = (e as NodeJS.ErrnoException).syscall === 'read' && (e as NodeJS.ErrnoException).path === undefined;
    throw new BftmrError('LOCAL_IO', reading ? `cannot read ${what}: ${ioReason(e)}` : `cannot copy ${what} to ${os.tmpdir()}: ${ioReason(e)}`);
  }
  return { file, size, remove };
}
