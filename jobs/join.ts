/**
 * Join: two inputs of `key<TAB>rest` lines (a job's output, say), joined on the key as
 * `join -t '<TAB>'` does: for every key in both, one output line per pair of a left and a right
 * line, `key<TAB>leftrest<TAB>rightrest`, left lines in their input order, each with the right
 * lines in theirs. `--conf left=PATH` names the left input (a dfs file or directory); every other
 * input is the right one. Lines without a tab are skipped.
 */
import type { Job } from 'bftmr';

/** Left values carry 'L', right ones 'R'; map index order puts each side's lines in input order. */
export default {
  map(line, ctx) {
    const tab = line.indexOf('\t');
    if (tab < 0) return;
    const left = ctx.conf.left;
    if (!left) throw new Error('join needs --conf left=PATH (the left input)');
    const isLeft = ctx.file === left || ctx.file.startsWith(left.endsWith('/') ? left : left + '/');
    ctx.emit(line.slice(0, tab), (isLeft ? 'L' : 'R') + line.slice(tab + 1));
  },
  reduce(key, values, ctx) {
    const lefts = values.filter((v) => v[0] === 'L');
    const rights = values.filter((v) => v[0] === 'R');
    for (const l of lefts) for (const r of rights) ctx.emit(key, `${l.slice(1)}\t${r.slice(1)}`);
  },
} satisfies Job;
