/**
 * One PageRank iteration. Input and output lines are `node<TAB>rank<TAB>out1,out2,...`, so each
 * iteration reads the last one's output directory (a chain of jobs). `--conf nodes=N` (the
 * number of nodes) and optionally `--conf damping=D` (default 0.85): new rank = (1-D)/N + D * the
 * sum of rank/outdegree over the node's in-links. A node without out-links passes no rank on.
 * Ranks are written in full (the shortest text that reads back as the same double), so a chain
 * loses nothing between iterations.
 */
import type { Job } from 'bftmr';

export default {
  map(line, ctx) {
    const [node, rank, outs = ''] = line.split('\t');
    if (!node || rank === undefined) return;
    const links = outs ? outs.split(',') : [];
    ctx.emit(node, 'G' + outs); // the graph goes on to the next iteration
    const share = Number(rank) / links.length;
    for (const to of links) ctx.emit(to, 'R' + String(share));
  },
  reduce(node, values, ctx) {
    const n = Number(ctx.conf.nodes);
    if (!(n > 0)) throw new Error('pagerank needs --conf nodes=N (the number of nodes)');
    const d = ctx.conf.damping === undefined ? 0.85 : Number(ctx.conf.damping);
    let sum = 0;
    let outs = '';
    for (const v of values) {
      if (v[0] === 'R') sum += Number(v.slice(1));
      else outs = v.slice(1);
    }
    ctx.emit(node, `${String((1 - d) / n + d * sum)}\t${outs}`);
  },
} satisfies Job;
