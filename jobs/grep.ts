/**
 * Grep: counts the lines matching `--conf pattern=REGEX`, per distinct match (the first match on
 * each line). Add `--conf flags=i` for JavaScript regex flags.
 */
import type { Job } from 'bftmr';
import { pattern } from './lib/pattern.ts';

function sum(values: string[]): string {
  let n = 0;
  for (const v of values) n += Number(v);
  return String(n);
}

export default {
  map(line, ctx) {
    const m = pattern(ctx.conf, 'grep').exec(line);
    if (m) ctx.emit(m[0], '1');
  },
  combine(match, counts, ctx) {
    ctx.emit(match, sum(counts));
  },
  reduce(match, counts, ctx) {
    ctx.emit(match, sum(counts));
  },
} satisfies Job;
