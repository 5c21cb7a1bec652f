/**
 * Filter: the lines matching `--conf pattern=REGEX` (`--conf flags=i` for JavaScript regex flags).
 * Run it map-only (`--reduces 0`), as Hadoop users run a distributed grep: each map writes its
 * split's matching lines in input order, so the part-m files, concatenated, are `grep -E`'s
 * output. With reduces, the lines come out grouped and sorted by their bytes instead.
 */
import type { Job } from 'bftmr';
import { pattern } from './lib/pattern.ts';

export default {
  // The line is the key, with no value: an output line is the input line.
  map(line, ctx) {
    if (pattern(ctx.conf, 'filter').test(line)) ctx.emit(line, '');
  },
  reduce(line, values, ctx) {
    for (const v of values) ctx.emit(line, v);
  },
} satisfies Job;
