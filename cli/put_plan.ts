/**
 * Where `dfs put` sends each local file, as HDFS's `-put <localsrc> ... <dst>` does: into `dst`
 * when it is a directory (or several sources are given, or it ends with `/`), else to `dst`
 * itself; a local directory brings every file below it, under its own name.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { BftmrError, ioReason } from '../lib/errors.ts';
import { joinPath, normalizePath } from '../dfs/dfs_path.ts';
import { holdScratch } from '../lib/scratch.ts';

/** A local file or every regular file below a local directory, in name order. */
export function listLocal(p: string): string[] {
  let st: fs.Stats;
  try {
    st = fs.statSync(p);
  } catch (e) {
    throw new BftmrError('LOCAL_IO', `cannot read ${p}: ${ioReason(e)}`);
  }
  if (st.isFile()) return [p];
  if (!st.isDirectory()) throw new BftmrError('LOCAL_IO', `${p} is neither a file nor a directory`);
  return fs.readdirSync(p, { withFileTypes: true })
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .flatMap((d) => (d.isDirectory() ? listLocal(path.join(p, d.name)) : d.isFile() ? [path.join(p, d.name)] : []));
}

export interface PutItem { local: string; target: string; size: number }

/**
 * Each local file with its dfs path. `dstKind` is what `dst` is in the dfs now. Refuses, before
 * anything is copied: a directory or several sources onto a file, and two files for one path.
 */
export function planPut(sources: string[], dst: string, dstKind: 'file' | 'dir' | 'none'): PutItem[] {
  const target = normalizePath(dst);
  if (sources.includes('-')) {
    // Standard input: its bytes go to one file, named by `dst` (see spoolStdin).
    if (sources.length > 1) throw new BftmrError('LOCAL_IO', 'standard input (-) must be the only source');
    if (dstKind === 'dir' || dst.endsWith('/')) throw new BftmrError('DFS_EXISTS', `${target} is a directory: name the file standard input goes to`);
    return [{ local: '-', target, size: 0 }];
  }
  const into = dstKind === 'dir' || sources.length > 1 || dst.endsWith('/');
  const items: PutItem[] = [];
  for (const src of sources) {
    const files = listLocal(src);
    const isDir = !(files.length === 1 && files[0] === src);
    if (dstKind === 'file' && (into || isDir)) {
      throw new BftmrError('DFS_EXISTS', `${target} is a file, not a directory`);
    }
    const base = into ? joinPath(target, path.basename(path.resolve(src))) : target;
    for (const f of files) {
      const rel = path.relative(src, f).split(path.sep).join('/');
      items.push({ local: f, target: rel ? normalizePath(`${base}/${rel}`) : base, size: fs.statSync(f).size });
    }
  }
  const seen = new Map<string, string>();
  for (const it of items) {
    const other = seen.get(it.target);
    if (other !== undefined) throw new BftmrError('DFS_EXISTS', `${other} and ${it.local} would both be ${it.target}`);
    seen.set(it.target, it.local);
  }
  return items;
}

/**
 * Standard input, read to its end into a private temporary file (a put reads its blocks more than
 * once: to upload, to answer fresh challenges, to retry on another node). `progress` gets the
 * bytes read so far. The file goes away with `remove()`.
 */
export async function spoolStdin(input: NodeJS.ReadableStream, progress: (bytes: number) => void): Promise<{ file: string; size: number; remove: () => Promise<void> }> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'bftmr-stdin-'));
  const release = holdScratch(dir);
  const remove = () => fsp.rm(dir, { recursive: true, force: true }).finally(release);
  const file = path.join(dir, 'stdin');
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
    throw new BftmrError('LOCAL_IO', `cannot keep standard input in ${os.tmpdir()}: ${ioReason(e)}`);
  }
  return { file, size, remove };
}
