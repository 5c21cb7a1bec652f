/**
 * Inverted index: for every word (as word_count tokenises: maximal runs of [A-Za-z0-9],
 * ASCII-lowercased), the dfs files it occurs in, in byte order, comma-separated. The map learns
 * each line's file from `ctx.file`; run it over a directory or several `--input`s.
 */
import type { Job } from 'bftmr';

const TOKEN = /[A-Za-z0-9]+/g;
/** Between file names inside the job (a dfs path never holds a NUL byte); the output uses commas. */
const SEP = '\0';

/** The distinct file names in `values` (each one name or a SEP-joined list), in byte order. */
function files(values: string[]): string[] {
  const set = new Set<string>();
  for (const v of values) for (const f of v.split(SEP)) set.add(f);
  return [...set].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

export default {
  map(line, ctx) {
    for (const m of line.matchAll(TOKEN)) ctx.emit(m[0].toLowerCase(), ctx.file);
  },
  combine(word, values, ctx) {
    ctx.emit(word, files(values).join(SEP));
  },
  reduce(word, values, ctx) {
    ctx.emit(word, files(values).join(','));
  },
} satisfies Job;
