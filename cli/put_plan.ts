/**
 * Where `dfs put` sends each local file, as HDFS's `-put <localsrc> ... <dst>` does: into `dst`
 * when it is a directory (or several sources are given, or it ends with `/`), else to `dst`
 * itself; a local directory brings every file below it, under its own name.
 */
import fs from 'node:fs';
import path from 'node:path';
import { BftmrError, ioReason } from '../lib/errors.ts';
import { joinPath, normalizePath } from '../dfs/dfs_path.ts';

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
    // Standard input: its bytes go to one file, named by `dst` (DfsClient.putStream).
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
