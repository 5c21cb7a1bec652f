/**
 * Word count. A token is a maximal run of [A-Za-z0-9], ASCII-lowercased; the value is its count.
 * Same answer as: LC_ALL=C tr -cs 'A-Za-z0-9' '\n' | tr A-Z a-z | sort | uniq -c
 */
import type { Job } from 'bftmr';

const TOKEN = /[A-Za-z0-9]+/g;

function sum(values: string[]): string {
  let n = 0;
  for (const v of values) n += Number(v);
  return String(n);
}

export default {
  map(line, ctx) {
    for (const m of line.matchAll(TOKEN)) ctx.emit(m[0].toLowerCase(), '1');
  },
  combine(word, counts, ctx) {
    ctx.emit(word, sum(counts));
  },
  reduce(word, counts, ctx) {
    ctx.emit(word, sum(counts));
  },
} satisfies Job;
