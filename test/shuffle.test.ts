import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import type { Job } from '../lib/job.ts';
import { loadXXHash } from '../lib/xxhash.ts';
import { COMBINE_EVERY, COMBINE_RUN, runMap } from '../tasktracker/map_runner.ts';
import { runReduce } from '../tasktracker/reduce_runner.ts';
import { compareKeys, sortByKey } from '../tasktracker/partitioner.ts';
import { RecordFileReader } from '../tasktracker/records.ts';
import { tempDir } from './helpers/temp.ts';

const tmp = () => tempDir('bftmr-shuffle-');

function records(file: string): [string, string][] {
  const r = new RecordFileReader(file, 7);
  const out: [string, string][] = [];
  while (r.next()) out.push([r.key, r.value]);
  r.close();
  return out;
}

/** Runs one map over `text` and returns each partition's records. */
async function mapText(job: Job, text: string, reduces: number) {
  const dir = tmp();
  const input = path.join(dir, 'in');
  fs.writeFileSync(input, text);
  const size = Buffer.byteLength(text);
  const outs = Array.from({ length: reduces }, (_, i) => path.join(dir, `p${i}`));
  const result = runMap(job, { file: '/in', blocks: [{ path: input, fileOffset: 0, size }], start: 0, end: size, fileSize: size },
    reduces, {}, outs, await loadXXHash());
  return { result, partitions: outs.map(records), outs };
}

// Emits every word of a line with the line's number as value: order of values is observable.
const tagger: Job = {
  map(line, ctx) { for (const w of line.split(' ').filter(Boolean)) ctx.emit(w, String(ctx.offset)); },
  reduce(key, values, ctx) { ctx.emit(key, values.join(',')); },
};

test('map partitions are sorted by key bytes, values keep their emission order', async (t) => {
  const { partitions } = await mapText(tagger, 'b a\nc b\nÄ a\nB\n😀 ｚ\n', 1);
  t.deepEqual(partitions[0], [
    ['B', '13'], ['a', '0'], ['a', '8'], ['b', '0'], ['b', '4'], ['c', '4'],
    ['Ä', '8'], ['ｚ', '15'], ['😀', '15'],
  ]);
});

test('the default partition is xxhash32 of the key bytes mod R', async (t) => {
  const xx = await loadXXHash();
  const { partitions } = await mapText(tagger, 'alpha beta gamma delta epsilon zeta eta theta\n', 3);
  for (const [p, recs] of partitions.entries()) {
    for (const [k] of recs) t.is(xx.h32(Buffer.from(k)) % 3, p, k);
  }
  t.is(partitions.flat().length, 8);
});

test('a custom partitioner is used, and a bad one is refused', async (t) => {
  const byFirst: Job = { ...tagger, partition: (k, n) => (k < 'm' ? 0 : n - 1) };
  const { partitions } = await mapText(byFirst, 'apple zoo kiwi nut\n', 2);
  t.deepEqual(partitions.map((p) => p.map(([k]) => k)), [['apple', 'kiwi'], ['nut', 'zoo']]);
  const bad: Job = { ...tagger, partition: () => 5 };
  await t.throwsAsync(() => mapText(bad, 'x\n', 2), { message: /not an integer in \[0, 2\)/ });
});

test('compareKeys orders like the UTF-8 bytes, surrogates included', (t) => {
  const keys = ['a', 'B', '\uE000', '😀', '\uFFFD', 'é', '', 'ab', '\u07FF', '\u0800', '𝄞', 'z'];
  const byBytes = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
  t.deepEqual([...keys].sort(compareKeys), byBytes);
});

test('the combiner runs at input-determined points: two attempts write identical bytes', async (t) => {
  const counter: Job = {
    map(line, ctx) { for (const w of line.split(' ')) ctx.emit(w, '1'); },
    combine(k, vs, ctx) { ctx.emit(k, String(vs.reduce((a, v) => a + Number(v), 0))); },
    reduce(k, vs, ctx) { ctx.emit(k, String(vs.reduce((a, v) => a + Number(v), 0))); },
  };
  const text = Array.from({ length: 3000 }, (_, i) => `w${i % 7} w${i % 13} common`).join('\n') + '\n';
  const a = await mapText(counter, text, 2);
  const b = await mapText(counter, text, 2);
  t.deepEqual(a.result.partitions, b.result.partitions);
  const all = new Map(a.partitions.flat());
  t.is(all.get('common'), '3000');
  t.is(all.get('w0'), String(Math.ceil(3000 / 7) + Math.ceil(3000 / 13))); // i%7==0 and i%13==0 both emit w0
});

test('a run of equal values is combined every COMBINE_RUN values, mixed values every COMBINE_EVERY; values keep emission order', async (t) => {
  const calls: Record<string, number[]> = {};
  const summing: Job = {
    map(line, ctx) { const [k, v] = line.split(' '); ctx.emit(k!, v!); },
    combine(k, vs, ctx) {
      (calls[k] ??= []).push(vs.length);
      ctx.emit(k, String(vs.reduce((a, v) => a + Number(v), 0)));
    },
    reduce() {},
  };
  const lines = [
    ...Array.from({ length: 10_000 }, () => 'run 1'),
    ...Array.from({ length: 200 }, (_, i) => `mixed ${1 + (i % 2)}`),
  ];
  const { partitions } = await mapText(summing, lines.join('\n') + '\n', 1);
  t.deepEqual(partitions[0], [['mixed', '300'], ['run', '10000']]);
  // run: 4096 values, then the sum and 4095 more, then what is left (10000 - 8191, and the sum).
  t.deepEqual(calls.run, [COMBINE_RUN, COMBINE_RUN, 10_000 - 2 * COMBINE_RUN + 2]);
  // mixed: 64 values, then the sum and 63 more twice, then the last 10 and the sum.
  t.deepEqual(calls.mixed, [COMBINE_EVERY, COMBINE_EVERY, COMBINE_EVERY, 200 - 3 * COMBINE_EVERY + 3]);

  const plain: Job = { map: summing.map, reduce() {} };
  const order = ['1', '1', '1', '2', '1', '1', '3', '3'];
  const out = await mapText(plain, order.map((v) => `k ${v}`).join('\n') + '\n', 1);
  t.deepEqual(out.partitions[0], order.map((v) => ['k', v]));
});

test('combines nest: a combiner that emits for other keys fills and combines theirs, and no key gets another\'s values', async (t) => {
  const job: Job = {
    map(line, ctx) { const [k, v] = line.split(' '); ctx.emit(k!, v!); },
    // Sums a word, and notes each combine under '#'; '#' itself is combined to one note per batch.
    combine(k, vs, ctx) {
      if (k === '#') { ctx.emit('#', `notes:${vs.length}`); return; }
      ctx.emit('#', k);
      ctx.emit(k, String(vs.reduce((a, v) => a + Number(v), 0)));
    },
    reduce() {},
  };
  const lines = Array.from({ length: 20_000 }, (_, i) => `w${i % 10} ${1 + (Math.floor(i / 10) % 2)}`);
  const { partitions } = await mapText(job, lines.join('\n') + '\n', 1);
  const sums = new Map<string, number>();
  for (const [k, v] of partitions[0]!) {
    if (k === '#') continue;
    t.regex(v, /^\d+$/, `a value of ${k}`);
    sums.set(k, (sums.get(k) ?? 0) + Number(v));
  }
  t.deepEqual([...sums], Array.from({ length: 10 }, (_, i) => [`w${i}`, 3000]));
  t.true(partitions[0]!.some(([k]) => k === '#'));
});

test('the last combine: a key left with one value is not combined; what a combiner emits for another key follows that key\'s own values', async (t) => {
  const tagging: Job = {
    map(line, ctx) { for (const w of line.split(' ')) ctx.emit(w, '1'); },
    // Tags what it combines, and tells key 'z' about every key it combines.
    combine(k, vs, ctx) { ctx.emit(k, `c${vs.length}`); ctx.emit('z', `from-${k}`); },
    reduce(k, vs, ctx) { ctx.emit(k, vs.join(',')); },
  };
  const { partitions } = await mapText(tagging, 'a b a z z y\n', 1);
  t.deepEqual(partitions[0], [['a', 'c2'], ['b', '1'], ['y', '1'], ['z', 'c2'], ['z', 'from-z'], ['z', 'from-a']]);
});

test('reduce merges map outputs by key bytes, ties broken by map index', async (t) => {
  const m0 = await mapText(tagger, 'k x\nk\n', 1);   // k: 0, 4 ; x: 0
  const m1 = await mapText(tagger, 'a k\n', 1);      // a: 0 ; k: 0
  const dir = tmp();
  const run = (inputs: (string | undefined)[]) => {
    const out = path.join(dir, `out${Math.random()}`);
    const res = runReduce(tagger, inputs, 0, 1, {}, out);
    return { res, text: fs.readFileSync(out, 'utf8') };
  };
  const { res, text } = run([m0.outs[0], m1.outs[0]]);
  t.is(text, 'a\t0\nk\t0,4,0\nx\t0\n');
  // Map 1's values come after map 0's whatever the listing order of the files.
  const swapped = run([m1.outs[0], m0.outs[0]]);
  t.is(swapped.text, 'a\t0\nk\t0,0,4\nx\t0\n');
  t.is(run([m0.outs[0], m1.outs[0]]).res.digest, res.digest);
  t.is(run([undefined, m1.outs[0]]).text, 'a\t0\nk\t0\n');
});

test('reduce merges keys in UTF-8 byte order, high characters (U+E000 up, beyond the BMP) included', async (t) => {
  // Spread over three maps, each in its own sorted order; keys in two maps tie by map index.
  const keys = ['a', 'B', '\uE000', '😀', '\uFFFD', 'é', 'ab', '\u07FF', '\u0800', '𝄞', 'z', '\uD7FF'];
  const maps = await Promise.all([0, 1, 2].map((m) => mapText(tagger, keys.filter((_, i) => i % 3 !== m).join(' ') + '\n', 1)));
  const out = path.join(tmp(), 'out');
  runReduce(tagger, maps.map((x) => x.outs[0]), 0, 1, {}, out);
  const byBytes = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
  t.deepEqual(fs.readFileSync(out, 'utf8').trimEnd().split('\n').map((l) => l.split('\t')), byBytes.map((k) => [k, '0,0']));
});

test('sortByKey sorts like the UTF-8 bytes, with and without high characters', (t) => {
  const plain = ['b', 'B', 'a', 'é', 'ab', '', 'Z'];
  const high = [...plain, '😀', '\uE000', '\uFFFD'];
  for (const keys of [plain, high]) {
    const byBytes = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    t.deepEqual(sortByKey(keys.map((k) => [k, [k]])).map(([k, [v]]) => [k, v]), byBytes.map((k) => [k, k]));
  }
  // Enough keys to be sorted in buckets by their first two characters: short keys, keys that begin
  // others, the empty key, non-ASCII ones below U+E000.
  const chars = ['', 'a', 'b', 'ab', 'aa', 'A', 'z', '0', 'é', 'ña', '\t', ' '];
  const many = new Set<string>();
  for (const x of chars) for (const y of chars) for (const z of chars) many.add(x + y + z + (x.length % 3 ? 'q' : ''));
  for (let n = 0; many.size < 6000; n++) many.add(String(n * 7919 % 100_003));
  const keys = [...many].reverse();
  const byBytes = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
  t.true(keys.length >= 4096);
  t.deepEqual(sortByKey(keys.map((k) => [k, [k]])).map(([k]) => k), byBytes);
});

test('an async map, combine or reduce is an error, not an empty output; a map\'s error says which line of the input', async (t) => {
  const asyncMap = { ...tagger, async map(line: string, ctx: Parameters<Job['map']>[1]) { await Promise.resolve(); ctx.emit(line, '1'); } } as unknown as Job;
  await t.throwsAsync(() => mapText(asyncMap, 'a\nb\n', 1), { message: /^on the line at offset 0 of \/in: map returned a Promise: map, combine and reduce must be synchronous/ });
  // One that rejects too: its rejection is handled (left unhandled, it would fail the worker's next task).
  const rejecting = { ...tagger, async map() { throw new Error('rejected'); } } as unknown as Job;
  await t.throwsAsync(() => mapText(rejecting, 'a\n', 1), { message: /map returned a Promise/ });
  await new Promise((resolve) => setImmediate(resolve));
  const asyncCombine = { ...tagger, async combine() { /* nothing */ } } as unknown as Job;
  await t.throwsAsync(() => mapText(asyncCombine, 'k k\n', 1), { message: /^combine returned a Promise/ });
  const m = await mapText(tagger, 'k x\n', 1);
  const asyncReduce = { ...tagger, async reduce() { /* nothing */ } } as unknown as Job;
  t.throws(() => runReduce(asyncReduce, [m.outs[0]], 0, 1, {}, path.join(tmp(), 'out')), { message: /^reduce returned a Promise/ });
  const thrower: Job = { ...tagger, map(line) { if (line === 'bad') throw new RangeError('no good'); } };
  await t.throwsAsync(() => mapText(thrower, 'fine\nbad\n', 1), { instanceOf: RangeError, message: 'on the line at offset 5 of /in: no good' });
  // An error whose message cannot be changed (a DOMException's is a getter) is wrapped, not lost.
  const readOnly: Job = { ...tagger, map() { atob('%'); } };
  const wrapped = await t.throwsAsync(() => mapText(readOnly, 'x\n', 1), { message: /^on the line at offset 0 of \/in: .*(invalid|encoded)/i });
  t.is((wrapped!.cause as Error).name, 'InvalidCharacterError');
  const throwsUndefined: Job = { ...tagger, map() { throw undefined; } };
  await t.throwsAsync(() => mapText(throwsUndefined, 'x\n', 1), { message: 'on the line at offset 0 of /in: map threw undefined' });
});
