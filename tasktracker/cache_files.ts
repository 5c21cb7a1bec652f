/**
 * A job's cache files inside a task (Hadoop's distributed cache): dfs files shipped to every
 * task, each read whole as UTF-8 on first use. The tracker fetched their blocks and checked each
 * against its digest, so every attempt of every task reads the same bytes.
 */
import fs from 'node:fs';
import { baseName } from '../dfs/dfs_path.ts';

/** A cache file as a task finds it: its dfs path and the local files of its blocks, in order. */
export interface LocalCacheFile { path: string; blocks: string[] }

/** Texts read by earlier tasks of this worker thread, by block files (named by their digests). */
let texts = new Map<string, string>();

/** `ctx.cacheFile(name)` for a task: by dfs path, or by base name. */
export function cacheReader(files: readonly LocalCacheFile[]): (name: string) => string {
  // Only the current job's files stay in memory.
  const keep = new Set(files.map((f) => f.blocks.join('\0')));
  texts = new Map([...texts].filter(([k]) => keep.has(k)));
  return (name: string) => {
    const f = files.find((c) => c.path === name) ?? files.find((c) => baseName(c.path) === name);
    if (!f) {
      throw new Error(`no cache file ${JSON.stringify(name)}: the job has ${files.length ? files.map((c) => c.path).join(', ') : 'none'} (job submit --cache-file PATH)`);
    }
    const key = f.blocks.join('\0');
    let text = texts.get(key);
    if (text === undefined) {
      text = Buffer.concat(f.blocks.map((b) => fs.readFileSync(b))).toString('utf8');
      texts.set(key, text);
    }
    return text;
  };
}
