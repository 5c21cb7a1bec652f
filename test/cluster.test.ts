/**
 * End to end on real processes: a job tracker and task trackers on loopback ports, jobs submitted
 * through the real CLI, outputs compared byte for byte with coreutils.
 */
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { MB } from '../lib/options.ts';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { sha256 } from '../lib/digest.ts';
import {
  bftmr, concatenatedOutput, corpus, grepLinesOracle, grepOracle, invertedIndexOracle, joinOracle, joinTracker, json, normalisedOutput, ROOT, sortOracle, tempDir,
  until, wordCountOracle,
} from './helpers/cli.ts';

const home = tempDir('bftmr-it-');
let text = '';

test.before(async (t) => {
  text = corpus();
  // Attempts are counted below: no attempt may be judged late on a loaded CI machine.
  const start = await bftmr(home, 'cluster', 'start', '--trackers', '4', '--slots', '1', '--late-floor-ms', '600000');
  t.is(start.code, 0, start.stderr);
  // Small blocks, so the input spans several blocks and splits and lines straddle them.
  const put = await bftmr(home, 'dfs', 'put', text, '/in/jargon.txt', '--block-mb', '0.25');
  t.is(put.code, 0, put.stderr);
});

test.after.always(async () => {
  await bftmr(home, 'cluster', 'stop');
});

async function runJob(t: any, job: string, output: string, ...extra: string[]) {
  const r = await bftmr(home, 'job', 'submit', job, '--input', '/in', '--output', output, '--split-mb', '0.25', '--json', ...extra);
  t.is(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout);
  t.is(summary.state, 'SUCCEEDED');
  const local = path.join(tempDir('bftmr-out-'), 'out');
  const get = await bftmr(home, 'dfs', 'get', output, local);
  t.is(get.code, 0, get.stderr);
  return { summary, local };
}

test.serial('word_count equals the coreutils oracle, byte for byte', async (t) => {
  const { summary, local } = await runJob(t, 'jobs/word_count.ts', '/out/wc', '--reduces', '3', '--f', '1');
  t.is(normalisedOutput(local), wordCountOracle(text));
  t.is(summary.maps.tasks, 7);
  t.is(summary.maps.attempts, 14); // f+1 per map, no faults
  t.is(summary.reduces.tasks, 3);
  t.deepEqual(summary.faulty_trackers, []);
  t.is(fs.readdirSync(local).sort().join(' '), 'part-r-00000 part-r-00001 part-r-00002');
});

test.serial('a map-only job (--reduces 0) commits its maps\' voted outputs as part-m files: filter equals grep -E, in input order', async (t) => {
  const { summary, local } = await runJob(t, 'jobs/filter.ts', '/out/filter', '--reduces', '0', '--f', '1', '--conf', 'pattern=[Hh]ack(er|ing)');
  const want = grepLinesOracle(text, '[Hh]ack(er|ing)');
  t.true(want.split('\n').length > 100);
  t.is(concatenatedOutput(local), want);
  t.is(fs.readdirSync(local).sort().join(' '), Array.from({ length: 7 }, (_, i) => `part-m-0000${i}`).join(' '));
  t.is(summary.maps.attempts, 14);
  t.deepEqual(summary.reduces, { tasks: 0, attempts: 0, reruns: 0 });
  const info = JSON.parse((await bftmr(home, 'dfs', 'stat', '/out/filter/part-m-00003', '--json')).stdout);
  t.is(new Set(info.blocks[0].replicas.map((x: any) => x.tracker_id)).size, 2, 'the f+1 matching copies are its replicas');
  // With reduces, the same lines come out sorted.
  const sorted = await runJob(t, 'jobs/filter.ts', '/out/filter-r', '--reduces', '2', '--f', '0', '--conf', 'pattern=[Hh]ack(er|ing)');
  t.is(normalisedOutput(sorted.local), normalisedOutput(local));
});

test.serial('committed output is recorded with its f+1 matching copies as replicas', async (t) => {
  const r = await bftmr(home, 'dfs', 'stat', '/out/wc/part-r-00000', '--json');
  t.is(r.code, 0, r.stderr);
  const info = JSON.parse(r.stdout);
  t.is(info.blocks.length, 1);
  t.is(new Set(info.blocks[0].replicas.map((x: any) => x.tracker_id)).size, 2);
});

test.serial('a map fetches only the verified head of a next block it does not hold, not the whole block', async (t) => {
  // Four copies of the text in 1.5 MB blocks, one replica each: some map's next block is on
  // another tracker (a new file until one is; each try has about a 1% chance of none).
  const big = path.join(tempDir('bftmr-big-'), 'big.txt');
  fs.writeFileSync(big, fs.readFileSync(text).toString().repeat(4));
  const blockBytes = 1.5 * MB;
  let input = '';
  let blocks: { size: number; digest: string; head_digest: string; head_size: number; replicas: { tracker_id: string }[] }[] = [];
  for (let i = 0; i < 5 && !input; i++) {
    const put = await bftmr(home, 'dfs', 'put', big, `/heads/${i}.txt`, '--block-mb', '1.5', '--replication', '1');
    t.is(put.code, 0, put.stderr);
    blocks = JSON.parse((await bftmr(home, 'dfs', 'stat', `/heads/${i}.txt`, '--json')).stdout).blocks;
    if (blocks.some((b, j) => j > 0 && b.replicas[0]!.tracker_id !== blocks[j - 1]!.replicas[0]!.tracker_id)) input = `/heads/${i}.txt`;
  }
  t.truthy(input, 'no placement put a block and the next one on different trackers');
  // The heads dfs put recorded: the SHA-256 of each block's first MB (of all of a shorter block).
  const bytes = fs.readFileSync(big);
  blocks.forEach((b, j) => {
    t.is(Number(b.head_size), Math.min(MB, b.size));
    t.is(b.head_digest, sha256(bytes.subarray(j * blockBytes, j * blockBytes + Number(b.head_size))));
  });
  const r = await bftmr(home, 'job', 'submit', 'jobs/word_count.ts', '--input', input, '--output', '/out/heads', '--split-mb', '1.5', '--f', '0', '--json');
  t.is(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout);
  const local = path.join(tempDir('bftmr-out-'), 'out');
  t.is((await bftmr(home, 'dfs', 'get', '/out/heads', local)).code, 0);
  t.is(normalisedOutput(local), wordCountOracle(big));

  const attempts = JSON.parse((await bftmr(home, 'job', 'attempts', summary.job_id, '--json')).stdout);
  const holds = (j: number, tracker: string) => blocks[j]!.replicas.some((x) => x.tracker_id === tracker);
  let heads = 0;
  for (const a of attempts.filter((x: any) => x.kind === 'map')) {
    const own = holds(a.task, a.tracker_id) ? 0 : blocks[a.task]!.size;
    const next = a.task + 1 < blocks.length && !holds(a.task + 1, a.tracker_id) ? Math.min(MB, blocks[a.task + 1]!.size) : 0;
    if (next) heads++;
    t.is(Number(a.fetched_bytes), own + next, `map ${a.task} on ${a.tracker_id}`);
  }
  t.true(heads > 0);
  t.is(summary.maps.fetched_bytes, attempts.filter((x: any) => x.kind === 'map').reduce((n: number, a: any) => n + Number(a.fetched_bytes), 0));
});

test.serial('a line longer than a block (it runs through two block boundaries) is read once, whole, as Hadoop reads it', async (t) => {
  // 0.6 MB of lines, one line of 1.2 MB (the text with its line ends made spaces), 0.6 MB of lines,
  // in 0.25 MB blocks: that line starts in one split and ends four blocks later.
  const lines = fs.readFileSync(text);
  const input = path.join(tempDir('bftmr-longline-'), 'long.txt');
  const oneLine = Buffer.from(lines.subarray(0, 1.2 * MB).toString('latin1').replace(/\r?\n/g, ' '), 'latin1');
  fs.writeFileSync(input, Buffer.concat([lines.subarray(0, 0.6 * MB), Buffer.from('\n'), oneLine, Buffer.from('\n'), lines.subarray(lines.length - 0.6 * MB)]));
  t.is((await bftmr(home, 'dfs', 'put', input, '/long/long.txt', '--block-mb', '0.25')).code, 0);
  const blocks = JSON.parse((await bftmr(home, 'dfs', 'stat', '/long/long.txt', '--json')).stdout).blocks;
  t.true(blocks.filter((b: { no_newline?: boolean }) => b.no_newline).length >= 3, 'dfs put marks the blocks with no line end');
  const r = await bftmr(home, 'job', 'submit', 'jobs/word_count.ts', '--input', '/long', '--output', '/out/long', '--split-mb', '0.25', '--reduces', '2', '--json');
  t.is(r.code, 0, r.stderr);
  const local = path.join(tempDir('bftmr-out-'), 'out');
  t.is((await bftmr(home, 'dfs', 'get', '/out/long', local)).code, 0);
  t.is(normalisedOutput(local), wordCountOracle(input));
  await bftmr(home, 'dfs', 'rm', '-r', '/long', '/out/long');
});

test.serial('cache files: word_count_except leaves out a stop list every task reads whole (ctx.cacheFile), like grep -vxF; so does run', async (t) => {
  // The 200 most frequent words, in blocks of a few hundred bytes: a task reads it from several.
  const dir = tempDir('bftmr-stop-');
  const stop = path.join(dir, 'stopwords.txt');
  const oracle = (input: string) => execFileSync('bash', ['-c',
    `tr -cs 'A-Za-z0-9' '\\n' < "$1" | tr A-Z a-z | grep -vxF -f "$2" | sort | uniq -c | awk 'NF==2 {print $2 "\\t" $1}'`, 'oracle', input, stop],
  { env: { ...process.env, LC_ALL: 'C' }, maxBuffer: 256 << 20 }).toString();
  fs.writeFileSync(stop, execFileSync('bash', ['-c', `tr -cs 'A-Za-z0-9' '\\n' < "$1" | tr A-Z a-z | sort | uniq -c | sort -rn | head -200 | awk '{print $2}'`, 'x', text],
    { env: { ...process.env, LC_ALL: 'C' } }));
  t.is((await bftmr(home, 'dfs', 'put', stop, '/side/stopwords.txt', '--block-mb', '0.0005')).code, 0);
  const { local } = await runJob(t, 'jobs/word_count_except.ts', '/out/wce', '--cache-file', '/side/stopwords.txt', '--reduces', '2');
  const expected = oracle(text);
  t.is(normalisedOutput(local), expected);
  t.false(/^the\t/m.test(expected));
  // bftmr run ships a local file; the tasks find it by its name.
  const small = path.join(dir, 'readme.txt');
  fs.copyFileSync(path.join(ROOT, 'README.md'), small);
  const out = path.join(dir, 'out');
  const r = await bftmr(tempDir('bftmr-run-cache-'), 'run', 'jobs/word_count_except.ts', '--input', small, '--output', out, '--cache-file', stop, '--f', '0', '--trackers', '1');
  t.is(r.code, 0, r.stderr);
  t.is(normalisedOutput(out), oracle(small));
});

test.serial('grep counts matching lines per distinct match, like grep -c', async (t) => {
  const ere = 'hack(er|ing|s)';
  const { local } = await runJob(t, 'jobs/grep.ts', '/out/grep', '--conf', `pattern=${ere}`, '--reduces', '2');
  const oracle = grepOracle(text, ere);
  const ours = normalisedOutput(local);
  t.is(ours, oracle.perMatch);
  t.is(ours.split('\n').filter(Boolean).reduce((n, l) => n + Number(l.split('\t')[1]), 0), oracle.total);
  t.true(oracle.total > 100);
});

test.serial('sort: the part files in order are the input sorted in byte order, like LC_ALL=C sort', async (t) => {
  // Split keys sampled from the input, as TeraSort samples them: the lines a third and two thirds in.
  const sorted = sortOracle(text).split('\n');
  const splits = JSON.stringify([sorted[Math.floor(sorted.length / 3)], sorted[Math.floor((2 * sorted.length) / 3)]]);
  const { local } = await runJob(t, 'jobs/sort.ts', '/out/sort', '--reduces', '3', '--conf', `splits=${splits}`);
  const parts = fs.readdirSync(local).filter((f) => f.startsWith('part-r-')).sort();
  t.is(parts.length, 3);
  t.true(parts.every((f) => fs.statSync(path.join(local, f)).size > 0), 'every range has lines');
  t.is(concatenatedOutput(local), sortOracle(text));
});

test.serial('inverted index: each word with the files it occurs in (ctx.file), like coreutils per file', async (t) => {
  const readme = path.join(ROOT, 'README.md');
  t.is((await bftmr(home, 'dfs', 'put', readme, '/idx/readme.md')).code, 0);
  const { local } = await runJob(t, 'jobs/inverted_index.ts', '/out/idx', '--reduces', '2', '--input', '/idx');
  t.is(normalisedOutput(local), invertedIndexOracle({ [text]: '/in/jargon.txt', [readme]: '/idx/readme.md' }));
  t.regex(normalisedOutput(local), /^bftmr\t\/idx\/readme\.md$/m);
});

test.serial('join: two inputs joined on their first field, like coreutils join, many to many', async (t) => {
  // Left: each word's count, twice over (two lines per key); right: each of the first 5000 words with its position.
  const dir = tempDir('bftmr-join-');
  const counts = wordCountOracle(text);
  const left = path.join(dir, 'left.tsv');
  fs.writeFileSync(left, counts + counts.replace(/\n/g, '\tagain\n'));
  const words = fs.readFileSync(text, 'latin1').toLowerCase().match(/[a-z0-9]+/g)!.slice(0, 5000);
  const right = path.join(dir, 'right.tsv');
  fs.writeFileSync(right, words.map((w, i) => `${w}\t${i + 1}\n`).join(''));
  for (const [local, name] of [[left, '/join/left.tsv'], [right, '/join/right.tsv']]) {
    t.is((await bftmr(home, 'dfs', 'put', local!, name!, '--block-mb', '0.25')).code, 0);
  }
  const r = await bftmr(home, 'job', 'submit', 'jobs/join.ts', '--input', '/join', '--output', '/out/join', '--conf', 'left=/join/left.tsv',
    '--reduces', '3', '--split-mb', '0.25', '--json');
  t.is(r.code, 0, r.stderr);
  const local = path.join(tempDir('bftmr-out-'), 'out');
  t.is((await bftmr(home, 'dfs', 'get', '/out/join', local)).code, 0);
  const oracle = joinOracle(left, right);
  t.true(oracle.split('\n').length > 10_000);
  t.is(normalisedOutput(local), oracle);
});

test.serial('PageRank: a chain of three jobs, each reading the last one\'s output, agrees with a plain Python PageRank', async (t) => {
  // The graph: each word of the first 3000 lines links to the words that follow it on a line.
  const lines = fs.readFileSync(text, 'latin1').split('\n').slice(0, 3000);
  const links = new Map<string, Set<string>>();
  for (const line of lines) {
    const words = line.toLowerCase().match(/[a-z0-9]+/g) ?? [];
    words.forEach((w, i) => {
      if (!links.has(w)) links.set(w, new Set());
      if (i + 1 < words.length) links.get(w)!.add(words[i + 1]!);
    });
  }
  const n = links.size;
  const graph = path.join(tempDir('bftmr-pr-'), 'graph.tsv');
  fs.writeFileSync(graph, [...links].map(([w, outs]) => `${w}\t${String(1 / n)}\t${[...outs].sort().join(',')}\n`).join(''));
  t.is((await bftmr(home, 'dfs', 'put', graph, '/pr/0/graph.tsv', '--block-mb', '0.25')).code, 0);
  for (let i = 1; i <= 3; i++) {
    const r = await bftmr(home, 'job', 'submit', 'jobs/pagerank.ts', '--input', `/pr/${i - 1}`, '--output', `/pr/${i}`,
      '--conf', `nodes=${n}`, '--reduces', '2', '--split-mb', '0.25', '--json');
    t.is(r.code, 0, r.stderr);
  }
  const local = path.join(tempDir('bftmr-out-'), 'out');
  t.is((await bftmr(home, 'dfs', 'get', '/pr/3', local)).code, 0);
  const ours = new Map(normalisedOutput(local).split('\n').filter(Boolean).map((l) => l.split('\t')).map(([w, r]) => [w!, Number(r)]));
  const oracle = execFileSync('python3', [path.join(ROOT, 'test/helpers/pagerank_oracle.py'), graph, '3', String(n), '0.85']).toString()
    .split('\n').filter(Boolean).map((l) => l.split('\t'));
  t.is(ours.size, n);
  t.is(oracle.length, n);
  // Sums of the same doubles in another order: equal to a few units in the last place.
  const off = oracle.filter(([w, r]) => !(Math.abs(ours.get(w!)! - Number(r)) <= 1e-12 * Math.max(1, Number(r))));
  t.deepEqual(off.slice(0, 5), [], `${off.length} of ${n} ranks differ`);
  t.true(Math.abs([...ours.values()].reduce((a, b) => a + b, 0) - 1) < 0.5, 'ranks keep most of the mass');
});

test.serial('f=0 runs one attempt per task, like plain Hadoop', async (t) => {
  const { summary, local } = await runJob(t, 'jobs/word_count.ts', '/out/wc0', '--f', '0', '--reduces', '2');
  t.is(summary.maps.attempts, summary.maps.tasks);
  t.is(summary.reduces.attempts, 2);
  t.is(normalisedOutput(local), wordCountOracle(text));
});

test.serial('job kill stops a job whose maps never end: its attempts are killed, nothing is committed, its slots serve the next job', async (t) => {
  const spin = path.join(tempDir('bftmr-spin-'), 'spin.ts');
  fs.writeFileSync(spin, 'export default { map() { for (;;) { /* never ends */ } }, reduce() {} };\n');
  const sub = await bftmr(home, 'job', 'submit', spin, '--input', '/in', '--output', '/out/spin', '--split-mb', '0.25', '--no-wait', '--json');
  t.is(sub.code, 0, sub.stderr);
  const { job_id: jobId } = JSON.parse(sub.stdout);
  // Attempts are spinning before the kill: on every slot of the cluster (4) or, as its trackers
  // share this host, on as many as the job tracker lets them use (host_share.ts: at least 2).
  for (let running = 0; running < Math.min(4, Math.max(2, os.availableParallelism()));) {
    await new Promise((r) => setTimeout(r, 200));
    const a = await bftmr(home, 'job', 'attempts', jobId, '--json');
    running = JSON.parse(a.stdout).filter((x: any) => x.outcome === 'running').length;
  }
  const kill = await bftmr(home, 'job', 'kill', jobId);
  t.is(kill.code, 0, kill.stderr);
  t.regex(kill.stdout, new RegExp(`^${jobId} killed: maps 0/7 and reduces 0/1 had been decided; /out/spin was not written`));
  const st = JSON.parse((await bftmr(home, 'job', 'status', jobId, '--json')).stdout);
  t.is(st.state, 'KILLED');
  t.regex(st.error, /^killed by client /);
  const attempts = JSON.parse((await bftmr(home, 'job', 'attempts', jobId, '--json')).stdout);
  t.true(attempts.every((x: any) => x.outcome === 'failed' && x.error === 'killed with the job'));
  t.is((await bftmr(home, 'dfs', 'stat', '/out/spin')).code, 1);
  const again = await bftmr(home, 'job', 'kill', jobId);
  t.is(again.code, 1);
  t.is(again.stderr.trim(), `bftmr: ${jobId} is not running: it was killed`);
  // The spinning workers are gone: a job that needs every slot runs to the end.
  await runJob(t, 'jobs/grep.ts', '/out/after-kill', '--conf', 'pattern=hack');
});

test('a tracker that returns wrong map output is outvoted and named; honest ones are not', async (t) => {
  const h = tempDir('bftmr-it-faulty-');
  const start = await bftmr(h, 'cluster', 'start', '--trackers', '3', '--slots', '1', '--faulty', '1', '--fault', 'corrupt-map');
  t.is(start.code, 0, start.stderr);
  try {
    const status = JSON.parse((await bftmr(h, 'cluster', 'status', '--json')).stdout);
    const faulty = status.trackers.filter((x: any) => x.fault === 'corrupt-map').map((x: any) => x.id);
    t.is(faulty.length, 1);
    t.is((await bftmr(h, 'dfs', 'put', text, '/in/jargon.txt', '--block-mb', '0.5')).code, 0);
    const r = await bftmr(h, 'job', 'submit', 'jobs/word_count.ts', '--input', '/in', '--output', '/out', '--reduces', '2', '--split-mb', '0.5', '--json');
    t.is(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout);
    t.true(summary.faulty_trackers.length > 0);
    t.deepEqual([...new Set(summary.faulty_trackers.map((v: any) => v.tracker))], faulty);
    t.regex(summary.faulty_trackers[0].reason, /lost the vote on map task/);
    // The job's history: only the liar's attempts lost a vote; every task has f+1 agreeing ones on distinct trackers.
    const hist = await bftmr(h, 'job', 'attempts', summary.job_id, '--json');
    t.is(hist.code, 0, hist.stderr);
    const attempts: { kind: string; task: number; tracker_id: string; outcome: string; start_ms: number; end_ms: number }[] = JSON.parse(hist.stdout);
    t.is(attempts.length, summary.maps.attempts + summary.reduces.attempts);
    t.true(attempts.some((a) => a.outcome === 'outvoted'));
    t.deepEqual([...new Set(attempts.filter((a) => a.outcome === 'outvoted').map((a) => a.tracker_id))], faulty);
    for (const kind of ['map', 'reduce']) {
      for (let i = 0; i < summary[`${kind}s`].tasks; i++) {
        const agreed = attempts.filter((a) => a.kind === kind && a.task === i && a.outcome === 'agreed');
        t.true(new Set(agreed.map((a) => a.tracker_id)).size >= 2, `${kind} ${i}`);
        t.true(agreed.every((a) => a.end_ms >= a.start_ms), `${kind} ${i}`);
        // (It computes reduces honestly: only its maps lie.)
        if (kind === 'map') t.false(agreed.some((a) => faulty.includes(a.tracker_id)), `map ${i}`);
      }
    }
    const text_ = await bftmr(h, 'job', 'attempts', summary.job_id);
    t.regex(text_.stdout, /^task +tracker +start +end +outcome\nmap \d+ /);
    t.regex((await bftmr(h, 'job', 'attempts', 'job_nope')).stderr, /no job job_nope/);
    const local = path.join(tempDir('bftmr-out-'), 'out');
    t.is((await bftmr(h, 'dfs', 'get', '/out', local)).code, 0);
    t.is(normalisedOutput(local), wordCountOracle(text));
  } finally {
    await bftmr(h, 'cluster', 'stop');
  }
});

test('bftmr run with a storage liar that fails every writer\'s check: the input and the job code go to the honest trackers, the output is right', async (t) => {
  const out = path.join(tempDir('bftmr-run-liar-'), 'out');
  const r = await bftmr(tempDir('bftmr-run-liar-home-'), 'run', 'jobs/word_count.ts', '--input', text, '--output', out,
    '--faulty', '1', '--fault', 'drop-blocks', '--split-mb', '0.5', '--json');
  t.is(r.code, 0, r.stderr);
  t.is(JSON.parse(r.stdout).state, 'SUCCEEDED');
  t.is(normalisedOutput(out), wordCountOracle(text));
});

test('bftmr run: a --conf value naming a local input names it as the job sees it; a late storage liar does not fail the copy of inputs alike', async (t) => {
  const dir = tempDir('bftmr-run-join-');
  fs.writeFileSync(path.join(dir, 'left.tsv'), 'a\tL1\nb\tL2\nc\tL3\n');
  fs.mkdirSync(path.join(dir, 'right'));
  // Two files alike: one block, stored twice, so challenged twice (a late liar lies the second time).
  for (const f of ['r1.tsv', 'r2.tsv']) fs.writeFileSync(path.join(dir, 'right', f), 'a\tR1\nc\tR3\n');
  const out = path.join(dir, 'out');
  const r = await bftmr(tempDir('bftmr-run-join-home-'), 'run', 'jobs/join.ts', '--input', path.join(dir, 'left.tsv'), '--input', path.join(dir, 'right'),
    '--conf', `left=${path.join(dir, 'left.tsv')}`, '--output', out, '--faulty', '1', '--fault', 'corrupt-blocks:late', '--json');
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /--conf left=.*left\.tsv names an input: the job sees it as \/input\/0-left\.tsv/);
  const joined = fs.readdirSync(out).filter((f) => f.startsWith('part-')).sort().map((f) => fs.readFileSync(path.join(out, f), 'utf8')).join('');
  t.is(joined, 'a\tL1\tR1\na\tL1\tR1\nc\tL3\tR3\nc\tL3\tR3\n');
  // One input directory: the left side is a directory below it. A bare word that is also an input's name stays a word.
  const out2 = path.join(dir, 'out2');
  const r2 = await bftmr(tempDir('bftmr-run-join-home-'), 'run', 'jobs/join.ts', '--input', dir, '--conf', `left=${path.join(dir, 'right')}/`,
    '--conf', 'word=right', '--output', out2, '--f', '0', '--trackers', '1', '--json');
  t.is(r2.code, 0, r2.stderr);
  t.regex(r2.stderr, /names an input: the job sees it as \/input\/0-[^/]+\/right\n/);
  t.notRegex(r2.stderr, /word=right/);
  t.true(JSON.parse(r2.stdout).counters['reduce.output.records'] > 0, 'the join is not empty');
});

test('a task that reads a block from a node serving wrong bytes reads another copy and reports the node, which the job tracker\'s own check names', async (t) => {
  const h = tempDir('bftmr-badread-');
  // No routine audits and a high blacklist bar: a verdict can only come from a reader's report.
  // Five trackers hold two copies of each block, so many attempts read their split remotely.
  const start = await bftmr(h, 'cluster', 'start', '--trackers', '5', '--slots', '1', '--faulty', '1', '--fault', 'corrupt-blocks:late',
    '--dfs-audit-ms', '0', '--blacklist-after', '1000');
  t.is(start.code, 0, start.stderr);
  try {
    const liar = JSON.parse((await bftmr(h, 'cluster', 'status', '--json')).stdout).trackers.find((x: any) => x.fault).id;
    // Four copies of the text: 27 blocks, two copies each, about 11 on the liar (those it was the
    // put's source of are caught by the node pulling from it, and dropped: about 5 are left, the
    // ones it pulled). Map attempts mostly read their split locally (and only the head of the block
    // after it, which blames nobody), so the text is also the job's cache file: every tracker that
    // runs a task reads each block it lacks from its copies in random order, meeting the liar's
    // first on about half of the liar's blocks (no tracker of four meeting it on any of 5 blocks
    // has odds of 2^-20).
    const four = path.join(tempDir('bftmr-badread-in-'), 'jargon4.txt');
    const one = fs.readFileSync(text);
    fs.writeFileSync(four, Buffer.concat([one, one, one, one]));
    const put = await bftmr(h, 'dfs', 'put', four, '/in/jargon.txt', '--block-mb', '0.25', '--replication', '2');
    t.is(put.code, 0, put.stderr);
    const r = await bftmr(h, 'job', 'submit', 'jobs/word_count.ts', '--input', '/in', '--output', '/out', '--split-mb', '0.25', '--f', '1',
      '--cache-file', '/in/jargon.txt', '--json');
    t.is(r.code, 0, r.stderr);
    const local = path.join(tempDir('bftmr-badread-out-'), 'out');
    t.is((await bftmr(h, 'dfs', 'get', '/out', local)).code, 0);
    t.is(normalisedOutput(local), wordCountOracle(four));
    let trackers: any[] = [];
    for (let i = 0; i < 80; i++) {
      trackers = JSON.parse((await bftmr(h, 'cluster', 'trackers', '--json')).stdout).trackers;
      if (trackers.find((x) => x.id === liar).verdicts.some((v: string) => /reading it for a task/.test(v))) break;
      await new Promise((res) => setTimeout(res, 250));
    }
    const verdicts = trackers.find((x) => x.id === liar).verdicts;
    t.true(verdicts.some((v: string) => /served bytes of block \w+ that do not match its digest \(accused by \S+, reading it for a task\)/.test(v)),
      verdicts.join('; '));
    for (const x of trackers) if (x.id !== liar) t.deepEqual(x.verdicts, [], `${x.id} is honest`);
  } finally {
    await bftmr(h, 'cluster', 'stop');
  }
});

test('a task that outgrows its heap cap (--task-memory-mb) fails the job with a clear message, reported by each tracker that ran it', async (t) => {
  const dir = tempDir('bftmr-hog-');
  const hog = path.join(dir, 'hog.ts');
  fs.writeFileSync(hog, `const keep: string[][] = [];
export default {
  map(line: string, ctx: any) { keep.push(new Array(100_000).fill(line)); ctx.emit('x', '1'); },
  reduce(k: string, vs: string[], ctx: any) { ctx.emit(k, String(vs.length)); },
};
`);
  const r = await bftmr(tempDir('bftmr-hog-home-'), 'run', hog, '--input', text, '--output', path.join(dir, 'out'), '--task-memory-mb', '64');
  t.is(r.code, 1);
  t.regex(r.stderr, /^bftmr: job \S+ failed: map task 0 failed on 2 trackers \(.+\): Worker terminated due to reaching memory limit/m);
  t.false(fs.existsSync(path.join(dir, 'out')));
});

test('cluster stop also stops the trackers it did not start: one started again by hand, one that joined', async (t) => {
  const h = tempDir('bftmr-stop-');
  const start = await bftmr(h, 'cluster', 'start', '--trackers', '3', '--slots', '1');
  t.is(start.code, 0, start.stderr);
  const state = JSON.parse(fs.readFileSync(path.join(h, 'cluster.json'), 'utf8'));
  const children: ChildProcess[] = [];
  try {
    // tracker-1 crashes and its operator starts it again by hand, with its own directory.
    process.kill(state.trackers[1].pid, 'SIGKILL');
    const log = fs.openSync(path.join(h, 'tracker-1', 'log'), 'a');
    const again = spawn(process.execPath, [path.join(ROOT, 'bin/bftmr.js'), 'tasktracker', '--jobtracker', state.jobTracker.address, '--dir', path.join(h, 'tracker-1')],
      { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    children.push(again, await joinTracker(h, 'tracker-joined', '--slots', '1'));
    const exits = children.map((c) => new Promise<number | null>((res) => c.once('exit', (code) => res(code))));
    await until('both to register', async () => (await json<any>(bftmr(h, 'cluster', 'status', '--json'))).trackers,
      (ts: any[]) => ts.some((x) => x.id === 'tracker-1' && x.pid === again.pid && x.alive) && ts.some((x) => x.id === 'tracker-joined' && x.alive));
    const stop = await bftmr(h, 'cluster', 'stop');
    t.is(stop.code, 0, stop.stderr);
    // (Bounded from the stop on, so a tracker left running fails the test instead of hanging it.)
    const exited = exits.map((e) => Promise.race([e, new Promise<string>((res) => setTimeout(() => res('still running a minute after cluster stop'), 60_000).unref())]));
    t.deepEqual(await Promise.all(exited), [0, 0], 'each shut down when asked, and cleanly');
    t.false(fs.existsSync(path.join(h, 'cluster.json')));
  } finally {
    for (const c of children) c.kill('SIGKILL');
    await bftmr(h, 'cluster', 'stop');
  }
});

test('a cluster started to listen on every address (--listen 0.0.0.0) takes a tracker that joins by the advertised name and a fixed job tracker port', async (t) => {
  const h = tempDir('bftmr-listen-');
  const port = await new Promise<number>((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port: p } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(p));
    });
  });
  const start = await bftmr(h, 'cluster', 'start', '--trackers', '2', '--slots', '1', '--listen', '0.0.0.0', '--advertise-host', 'localhost', '--jobtracker-port', String(port));
  t.is(start.code, 0, start.stderr);
  let joined: ChildProcess | undefined;
  try {
    // As on another host: the job tracker by name and port, this tracker's own address by name.
    joined = await joinTracker(h, 'tracker-joined', '--jobtracker', `localhost:${port}`, '--listen', '0.0.0.0:0', '--advertise-host', 'localhost', '--slots', '1');
    const trackers = await until('the joined tracker to register', async () => (await json<any>(bftmr(h, 'cluster', 'status', '--json'))).trackers,
      (ts: any[]) => ts.some((x) => x.id === 'tracker-joined' && x.alive));
    t.deepEqual(trackers.map((x: any) => x.address.replace(/\d+$/, 'N')), ['localhost:N', 'localhost:N', 'localhost:N'], 'every tracker by the advertised name');
    // Three copies on three trackers: the joined one pulls its copy from the others, by their advertised addresses.
    const put = await bftmr(h, 'dfs', 'put', corpus(), '/in.txt');
    t.is(put.code, 0, put.stderr);
    const stat = await json<any>(bftmr(h, 'dfs', 'stat', '/in.txt', '--json'));
    t.true(stat.blocks.every((b: any) => b.replicas.some((r: any) => r.tracker_id === 'tracker-joined')), JSON.stringify(stat.blocks));
    t.is((await bftmr(h, 'dfs', 'cat', '/in.txt')).stdout, fs.readFileSync(corpus(), 'utf8'));
  } finally {
    t.is((await bftmr(h, 'cluster', 'stop')).code, 0);
    joined?.kill('SIGKILL');
  }
});

test('cluster credentials --role client --jobtracker makes a home from which another host uses the cluster, and which cannot stop or start it', async (t) => {
  const { job_tracker: jt } = await json<any>(bftmr(home, 'cluster', 'status', '--json'));
  const made = path.join(tempDir('bftmr-client-'), 'alice');
  const issued = await bftmr(home, 'cluster', 'credentials', '--role', 'client', '--name', 'alice', '--out', made, '--jobtracker', jt.address);
  t.is(issued.code, 0, issued.stderr);
  // As on another host: the directory is somewhere else than where it was made.
  const elsewhere = path.join(tempDir('bftmr-client-moved-'), 'home');
  fs.renameSync(made, elsewhere);
  const status = await json<any>(bftmr(elsewhere, 'cluster', 'status', '--json'));
  t.is(status.job_tracker.pid, jt.pid);
  t.is(status.job_tracker.address, jt.address, 'the address it reaches the job tracker at');
  t.is(status.home, elsewhere);
  const put = await bftmr(elsewhere, 'dfs', 'put', corpus(), '/client-home/in.txt');
  t.is(put.code, 0, put.stderr);
  const run = await bftmr(elsewhere, 'job', 'submit', path.join(ROOT, 'jobs/word_count.ts'), '--input', '/client-home/in.txt', '--output', '/client-home/wc', '--json');
  t.is(run.code, 0, run.stderr);
  t.is((await bftmr(home, 'dfs', 'cat', '/client-home/in.txt')).stdout, fs.readFileSync(corpus(), 'utf8'), 'what it put, read from the cluster\'s own home');

  // Its daemons are not this home's to stop or start: one line, exit 1, the cluster still runs.
  for (const args of [['cluster', 'stop'], ['cluster', 'start'], ['cluster', 'credentials', '--name', 'x', '--out', path.join(elsewhere, 'x')]]) {
    const r = await bftmr(elsewhere, ...args);
    t.is(r.code, 1, args.join(' '));
    t.regex(r.stderr, /^bftmr: .* is a home for using the cluster whose job tracker is at 127\.0\.0\.1:\d+, from another host: .*\n$/);
  }
  // A client, not an admin: it cannot take a tracker out either.
  const out = await bftmr(elsewhere, 'cluster', 'decommission', 'tracker-0');
  t.is(out.code, 1);
  t.regex(out.stderr, /Decommission is not allowed for client alice \(it is for the cluster's admins/);
  t.is((await json<any>(bftmr(home, 'cluster', 'status', '--json'))).job_tracker.pid, jt.pid);
  t.true(fs.existsSync(path.join(elsewhere, 'cluster.json')));

  const refusals: [string[], RegExp][] = [
    [['--role', 'client', '--name', 'bob', '--out', elsewhere, '--jobtracker', jt.address], /is not empty: a client's home is a new directory/],
    // Not even a stopped cluster's home (its CA and nodes' data would be taken over), nor this one.
    [['--role', 'admin', '--name', 'bob', '--out', home, '--jobtracker', jt.address], /is not empty: a client's home is a new directory/],
    [['--role', 'client', '--name', 'bob', '--out', path.join(tempDir('bftmr-client-'), 'x'), '--jobtracker', 'localhost:0'], /takes HOST:PORT, not localhost:0/],
    // Another node's identity is not overwritten.
    [['--name', 'tracker-x', '--out', path.join(home, 'tracker-0', 'tls')], /holds a node's credentials already: issue into a new directory/],
    [['--role', 'tasktracker', '--name', 'bob', '--out', path.join(tempDir('bftmr-client-'), 'x'), '--jobtracker', jt.address], /goes with --role client/],
    [['--role', 'client', '--name', 'bob', '--out', path.join(tempDir('bftmr-client-'), 'x'), '--jobtracker', 'localhost'], /takes HOST:PORT, not localhost/],
    [['--role', 'client', '--name', 'bob', '--out', path.join(tempDir('bftmr-client-'), 'x'), '--jobtracker', '0.0.0.0:7070'], /0\.0\.0\.0 is where the job tracker listens, not an address to reach it at/],
  ];
  for (const [args, why] of refusals) {
    const r = await bftmr(home, 'cluster', 'credentials', ...args);
    t.is(r.code, 1, args.join(' '));
    t.regex(r.stderr, why);
  }
  t.is((await bftmr(home, 'cluster', 'status')).code, 0, 'the cluster\'s own home still works');
  // A torn cluster.json is not taken for no cluster (a start there would take over the home).
  fs.writeFileSync(path.join(elsewhere, 'cluster.json'), '{"remote":true,');
  for (const args of [['cluster', 'status'], ['cluster', 'start']]) {
    const r = await bftmr(elsewhere, ...args);
    t.is(r.code, 1, args.join(' '));
    t.regex(r.stderr, /^bftmr: .*cluster\.json is not a cluster's state \(not JSON\): fix or remove it\n$/);
  }
});
