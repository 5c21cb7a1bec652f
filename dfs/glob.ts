/**
 * Glob patterns over dfs paths, as HDFS's shell and FileInputFormat take them: within one path
 * component, `*` (any run of characters), `?` (one), `[abc]`, `[a-z]`, `[^a]` or `[!a]`, and
 * `{a,b}` (either); `\` before one of `*?[]{},\` takes it literally, and before any other character
 * is itself (so a name with a backslash is the same in a pattern and in a plain path). As in a shell, a name that starts
 * with `.` (bftmr's own `/.bftmr`, say) is matched only by a component that starts with `.`
 * (or `{`). Expanded by the client against a listing: the job tracker never sees a pattern.
 */
import { BftmrError } from '../lib/errors.ts';
import { normalizePath } from './dfs_path.ts';

/** Whether `p` has a glob character that is not escaped. */
export function hasGlob(p: string): boolean {
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (escapes(p, i)) i++;
    else if (c === '*' || c === '?' || c === '[' || c === '{') return true;
  }
  return false;
}

/** What a backslash escapes: a glob character, or another backslash. */
const ESCAPABLE = new Set(['*', '?', '[', ']', '{', '}', ',', '\\']);

/**
 * Whether p[i] is a backslash that escapes the next character. Before any other character it is a
 * backslash, as `put` and every path that is not a pattern take it (`/o/a\b` is one name everywhere).
 */
function escapes(p: string, i: number): boolean {
  return p[i] === '\\' && ESCAPABLE.has(p[i + 1] ?? '');
}

/** The fixed part of a pattern, its escapes taken literally (`/x\\*y` is the directory `x*y`). */
export function unescapeGlob(p: string): string {
  return p.replace(/\\([*?[\]{},\\])/g, '$1');
}

export interface Glob {
  /** The directory below which every match lies: the pattern's components before its first glob. */
  base: string;
  /** Whether a normalised dfs path matches the whole pattern. */
  matches(path: string): boolean;
}

const REGEX_SPECIAL = /[.*+?^${}()|[\]\\/]/g;
const literal = (c: string) => c.replace(REGEX_SPECIAL, '\\$&');

/** One path component of a pattern as a regular expression's source. */
function componentSource(part: string, pattern: string): string {
  const bad = (why: string) => new BftmrError('DFS_BAD_PATH', `pattern ${JSON.stringify(pattern)}: ${why}`);
  let out = '';
  let braces = 0;
  for (let i = 0; i < part.length; i++) {
    const c = part[i]!;
    if (escapes(part, i)) out += literal(part[++i]!); else if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const end = part.indexOf(']', i + 2);
      if (end < 0) throw bad('[ without ]');
      let body = part.slice(i + 1, end);
      const negate = body[0] === '^' || body[0] === '!';
      if (negate) body = body.slice(1);
      out += `[${negate ? '^/' : ''}${body.replace(/[\\\]^[]/g, '\\$&')}]`; // never a /: it would match across components
      i = end;
    } else if (c === '{') { braces++; out += '(?:'; }
    else if (c === '}' && braces > 0) { braces--; out += ')'; }
    else if (c === ',' && braces > 0) out += '|';
    else out += literal(c);
  }
  if (braces > 0) throw bad('{ without }');
  // A hidden name is matched only on purpose.
  return part.startsWith('.') || part.startsWith('{') ? out : `(?!\\.)${out}`;
}

export function compileGlob(pattern: string): Glob {
  const parts = normalizePath(pattern).split('/').slice(1);
  const first = parts.findIndex(hasGlob);
  const fixed = first < 0 ? parts : parts.slice(0, first);
  const base = '/' + fixed.map(unescapeGlob).join('/');
  let source: string;
  try {
    source = parts.map((p) => componentSource(p, pattern)).join('/');
    const re = new RegExp(`^/${source}$`, 'u');
    return { base, matches: (path) => re.test(path) };
  } catch (e) {
    if (e instanceof BftmrError) throw e;
    const why = (e as Error).message.replace(/^Invalid regular expression: .*: /, '').toLowerCase();
    throw new BftmrError('DFS_BAD_PATH', `pattern ${JSON.stringify(pattern)} is not a valid glob: ${why}`);
  }
}

/**
 * The paths among `files` (every file below the pattern's base, normalised) and the directories
 * they imply that match `glob`, in path order.
 */
export function globMatches(glob: Glob, files: string[]): string[] {
  const candidates = new Set<string>();
  const root = glob.base === '/' ? 0 : glob.base.length;
  for (const f of files) {
    candidates.add(f);
    for (let i = f.lastIndexOf('/'); i > root; i = f.lastIndexOf('/', i - 1)) candidates.add(f.slice(0, i));
  }
  return [...candidates].filter((p) => glob.matches(p)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}
