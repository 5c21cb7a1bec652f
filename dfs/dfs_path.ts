/** dfs paths: absolute, `/`-separated, no empty, `.` or `..` components, no NUL. */
import { BftmrError } from '../lib/errors.ts';

export function normalizePath(input: string): string {
  if (typeof input !== 'string' || input.length === 0) throw new BftmrError('DFS_BAD_PATH', 'a dfs path cannot be empty');
  if (input.includes('\0')) throw new BftmrError('DFS_BAD_PATH', `dfs path ${JSON.stringify(input)} contains a NUL byte`);
  if (!input.startsWith('/')) throw new BftmrError('DFS_BAD_PATH', `dfs path ${JSON.stringify(input)} must be absolute (start with /)`);
  const parts = input.split('/').filter((p) => p !== '');
  for (const p of parts) {
    if (p === '.' || p === '..') throw new BftmrError('DFS_BAD_PATH', `dfs path ${JSON.stringify(input)} may not contain '${p}'`);
  }
  return '/' + parts.join('/');
}

export function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

export function ancestors(path: string): string[] {
  const out: string[] = [];
  for (let p = parentOf(path); p !== '/'; p = parentOf(p)) out.push(p);
  return out;
}

/** The last component of a normalised path ('' for /). */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

export function joinPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}
