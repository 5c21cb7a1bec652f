/**
 * Local files and directories this process writes for a while and then renames or removes (a
 * get's partial files, standard input kept for a put). Commands that write them remove them all
 * when interrupted (onInterruptRemoveScratch), so Ctrl-C leaves nothing half-written behind; the
 * directories a process makes for them (makeScratchDir) are removed by the next one if it was
 * killed outright.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { onStopSignals } from './signals.ts';

const scratch = new Set<string>();

/** `p` is scratch until the returned function is called (it was renamed or removed). */
export function holdScratch(p: string): () => void {
  scratch.add(p);
  return () => { scratch.delete(p); };
}

/**
 * A new directory `<base>/<prefix><host>-<pid>-XXXXXX`, held as scratch. The first time a prefix is
 * used in a base, directories of that prefix left there by processes of this host that are gone
 * (killed with SIGKILL, or by a crash, so that nothing removed them) are removed: the host and pid
 * in the name say whose a directory is, so a shared home's other hosts keep theirs.
 */
export async function makeScratchDir(base: string, prefix: string): Promise<string> {
  const own = `${prefix}${hostTag()}-`;
  const key = path.join(base, own);
  if (!swept.has(key)) {
    swept.add(key);
    await sweepOrphans(base, own);
  }
  const dir = await fsp.mkdtemp(key + `${process.pid}-`);
  holdScratch(dir);
  return dir;
}

/** Removes a directory made by makeScratchDir, and forgets it as scratch. */
export async function removeScratchDir(dir: string): Promise<void> {
  await fsp.rm(dir, { recursive: true, force: true });
  scratch.delete(dir);
}

const swept = new Set<string>();

/**
 * Whose pids these are, as it may stand in a file name: the host's name and, where there is one,
 * the pid namespace's inode (containers that share a host name and a directory count their pids
 * apart).
 */
export function hostTag(): string {
  if (tag !== undefined) return tag;
  let ns = '';
  try { ns = /\[(\d+)\]/.exec(fs.readlinkSync('/proc/self/ns/pid'))?.[1] ?? ''; } catch { /* not Linux */ }
  return (tag = (os.hostname().replace(/[^A-Za-z0-9.]/g, '_') || 'host') + (ns ? `.${ns}` : ''));
}
/** hostTag(), read once: a process keeps its host name and pid namespace. */
let tag: string | undefined;

/**
 * Removes the directories named `<own><pid>-*` in `base` whose process is gone. Only a directory
 * (not a link to one) of this user's that no one else may write into (mkdtemp makes them 0700) is
 * removed: in a shared directory (the temporary one) another user could otherwise plant an entry
 * of that name, and swap what is inside it while it is being removed.
 */
async function sweepOrphans(base: string, own: string): Promise<void> {
  let names: string[];
  try { names = await fsp.readdir(base); } catch { return; }
  for (const name of names) {
    if (!name.startsWith(own)) continue;
    const pid = Number(/^(\d+)-/.exec(name.slice(own.length))?.[1]);
    if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid || alive(pid)) continue;
    const dir = path.join(base, name);
    const st = await fsp.lstat(dir).catch(() => undefined);
    if (!st?.isDirectory() || st.uid !== process.getuid?.() || (st.mode & 0o077) !== 0) continue;
    await fsp.rm(dir, { recursive: true, force: true }).catch(() => {});
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // someone else's process
  }
}

/**
 * Removes every scratch path now (the process is about to exit). Work still in flight may write
 * into a directory as it goes (ENOTEMPTY): each removal is retried, every path is tried, and the
 * error then names the paths left.
 */
export function removeScratch(): void {
  const left: string[] = [];
  for (const p of scratch) {
    try {
      fs.rmSync(p, { recursive: true, force: true, maxRetries: 3, retryDelay: 20 });
    } catch {
      left.push(p);
    }
  }
  scratch.clear();
  if (left.length) throw new Error(`could not remove ${left.join(', ')}`);
}

/**
 * Runs `fn`; if a stop signal (lib/signals.ts) comes meanwhile, every scratch path goes and the process
 * exits 130, saying so.
 */
export async function onInterruptRemoveScratch<T>(fn: () => Promise<T>): Promise<T> {
  const onSignal = () => {
    try {
      removeScratch();
      process.stderr.write('\nbftmr: interrupted; nothing half-written was left\n');
    } catch (e) {
      process.stderr.write(`\nbftmr: interrupted; ${(e as Error).message}\n`);
    }
    process.exit(130);
  };
  const off = onStopSignals(onSignal);
  try {
    return await fn();
  } finally {
    off();
  }
}
