/**
 * Grep: counts the lines matching `--conf pattern=REGEX`, per distinct match (the first match on
 * each line). Add `--conf flags=i` for JavaScript regex flags.
 */
import type { Job } from 'bftmr';

let cached: { source: string; flags: string; re: RegExp } | undefined;

function pattern(conf: Readonly<Record<string, string>>): RegExp {
  const source = conf.pattern;
  if (source === undefined) throw new Error('grep needs --conf pattern=REGEX');
  const flags = (conf.flags ?? '').replace(/[gy]/g, '');
  if (!cached || cached.source !== source || cached.flags !== flags) cached = { source, flags, re: new RegExp(source, flags) };
  return cached.re;
}

function sum(values: string[]): string {
  let n = 0;
  for (const v of values) n += Number(v);
  return String(n);
}

export default {
  map(line, ctx) {
    const m = pattern(ctx.conf).exec(line);
    if (m) ctx.emit(m[0], '1');
  },
  combine(match, counts, ctx) {
    ctx.emit(match, sum(counts));
  },
  reduce(match, counts, ctx) {
    ctx.emit(match, sum(counts));
  },
} satisfies Job;
