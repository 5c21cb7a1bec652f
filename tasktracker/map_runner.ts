/**
 * One map attempt, start to end: read the split's lines, run map (and the combiner), partition,
 * sort each partition by key bytes (stable: a key's values keep their emission order) and write
 * one record file per partition, hashing it as it is written.
 */
import type { Conf, Job, MapContext, ReduceContext } from '../lib/job.ts';
import type { XXHash } from '../lib/xxhash.ts';
import { readSplitLines, SplitLineError, type LocalBlock } from './line_reader.ts';
import { makePartitioner, sortByKey, type KeyValues } from './partitioner.ts';
import { OutputFile } from './output_file.ts';
import { varintSize, writeVarint } from './records.ts';
import { Counters } from './counters.ts';
import { cacheReader } from './cache_files.ts';

/**
 * The combiner runs on a key when its buffered values reach this many (or the buffer's doubled
 * size, see `full`), and once more at the end unless one value is left: points that depend only
 * on the input, so every honest attempt writes identical bytes. A buffer that is one run of equal
 * values costs a counter however long it is, so it waits for COMBINE_RUN values: word count then
 * combines a frequent word every 4096 occurrences, not every 64.
 */
export const COMBINE_EVERY = 64;
export const COMBINE_RUN = 4096;
const INITIAL_VALUES = 2;

export interface MapInput {
  file: string;           // dfs path, shown to map as ctx.file
  blocks: LocalBlock[];
  start: number;
  end: number;
  fileSize: number;
}

export interface PartitionFile { digest: string; size: number }

export interface MapResult {
  partitions: PartitionFile[];
  counters: Record<string, number>;
}

/**
 * Every key's buffered values, in emission order: `v[i]`, then `runN[i]` copies of `runValue[i]`,
 * where `i` is the key's slot. Jobs often emit one value over and over (word count's '1'), so a
 * run of equal values costs a counter, not an array slot each. `cap[i]` is the buffer's capacity:
 * reaching it is when the combiner runs. Per-key state lives in parallel arrays and the key's Map
 * entry holds only its slot, a small integer: the lookup on every emit touches no object.
 */
class KeyBuffers {
  readonly slots = new Map<string, number>();
  readonly keys: string[] = [];
  readonly runValue: string[] = [];
  readonly v: (string[] | undefined)[] = [];
  n = new Float64Array(1024);
  cap = new Float64Array(1024);
  runN = new Float64Array(1024);

  add(key: string, value: string): number {
    const i = this.keys.length;
    if (i === this.n.length) {
      this.n = grow(this.n);
      this.cap = grow(this.cap);
      this.runN = grow(this.runN);
    }
    this.slots.set(key, i);
    this.keys.push(key);
    this.runValue.push(value);
    this.v.push(undefined);
    this.cap[i] = INITIAL_VALUES;
    return i;
  }

  /** Slot i's values in emission order; the buffer is left empty. */
  take(i: number): string[] {
    const out = this.v[i] ?? [];
    const value = this.runValue[i]!;
    for (let k = this.runN[i]!; k > 0; k--) out.push(value);
    this.v[i] = undefined;
    this.runN[i] = 0;
    this.n[i] = 0;
    return out;
  }
}

function grow(a: Float64Array<ArrayBuffer>): Float64Array<ArrayBuffer> {
  const b = new Float64Array(a.length * 2);
  b.set(a);
  return b;
}

export function runMap(job: Job, input: MapInput, numReduces: number, conf: Conf, outPaths: string[], xx: XXHash,
  cacheFile: (name: string) => string = cacheReader([])): MapResult {
  if (numReduces === 0) return runMapOnly(job, input, conf, outPaths[0]!, cacheFile);
  const counters = new Counters();
  const buffer = new KeyBuffers();
  const combine = job.combine?.bind(job);
  let outRecords = 0;

  const combineCtx = (emit: (key: string, value: string) => void): ReduceContext => ({
    emit,
    partition: -1,
    numPartitions: numReduces,
    conf,
    count: (name, by = 1) => counters.add(name, by),
    cacheFile,
  });

  const append = (key: string, value: string): void => {
    let i = buffer.slots.get(key);
    if (i === undefined) i = buffer.add(key, value);
    else if (buffer.n[i]! >= buffer.cap[i]!) full(key, i);
    const runN = buffer.runN[i]!;
    if (runN === 0) buffer.runValue[i] = value;
    else if (value !== buffer.runValue[i]) {
      const run = buffer.runValue[i]!;
      const v = (buffer.v[i] ??= []);
      for (let k = 0; k < runN; k++) v.push(run);
      buffer.runN[i] = 0;
      buffer.runValue[i] = value;
    }
    buffer.runN[i]++;
    buffer.n[i]++;
  };

  // A key's buffer is full. Small buffers double (most keys have few values). From COMBINE_EVERY
  // on (COMBINE_RUN while the buffer is one run of equal values), a combiner runs on the full
  // buffer and what it emits for the key becomes the buffer's content; anything it emits for other
  // keys is appended to theirs (which may fill one and run the combiner there: combines nest), and
  // what reaches this key that way meanwhile follows the combiner's output. If that leaves it at
  // least half full, or there is no combiner, the buffer doubles (and more, to exceed what it
  // holds). These points depend only on the input, and a combiner that does not shrink costs
  // O(n log n), not O(n²).
  let combiningKey: string | undefined;
  let combined: string[] = [];
  const eagerCtx = combineCtx((key, value) => {
    checkStrings(key, value);
    if (key === combiningKey) combined.push(value);
    else append(key, value);
  });
  function full(key: string, i: number): void {
    let double = true;
    if (combine && buffer.cap[i]! >= COMBINE_EVERY && (buffer.v[i] !== undefined || buffer.n[i]! >= COMBINE_RUN)) {
      const outerKey = combiningKey;
      const outer = combined;
      combiningKey = key;
      combined = [];
      synchronous('combine', combine(key, buffer.take(i), eagerCtx));
      const own = combined;
      combiningKey = outerKey;
      combined = outer;
      const values = buffer.n[i]! > 0 ? own.concat(buffer.take(i)) : own;
      buffer.v[i] = values;
      buffer.n[i] = values.length;
      double = values.length * 2 > buffer.cap[i]!;
    }
    if (double) buffer.cap[i]! *= 2;
    while (buffer.cap[i]! <= buffer.n[i]!) buffer.cap[i]! *= 2;
  }

  const ctx: MapContext & { offset: number } = {
    emit(key, value) {
      checkStrings(key, value);
      outRecords++;
      append(key, value);
    },
    file: input.file,
    offset: 0,
    conf,
    count: (name, by = 1) => counters.add(name, by),
    cacheFile,
  };
  const { records: inRecords, chars: inBytes } = mapLines(job, input, ctx);

  // A last combine per key, straight out of the buffer into its partition: each key's buffer is
  // dropped as it is read, so the map never holds two copies of its output. A key with one value
  // left is not combined again (a combiner may run any number of times, none included). Anything a
  // combiner emits for another key goes to `others`, written after that key's own values.
  const partitioner = makePartitioner(job, numReduces, conf, xx);
  const byPartition: KeyValues[][] = Array.from({ length: numReduces }, () => []);
  let current: string | undefined;
  let own: string[] = [];
  const others = new Map<string, string[]>();
  const finalCtx = combineCtx((key, value) => {
    checkStrings(key, value);
    if (key === current) own.push(value);
    else appendValue(others, key, value);
  });
  buffer.slots.clear();
  for (let i = 0; i < buffer.keys.length; i++) {
    const key = buffer.keys[i]!;
    let values = buffer.take(i);
    if (combine && values.length > 1) {
      current = key;
      own = [];
      synchronous('combine', combine(key, values, finalCtx));
      values = own;
    }
    // Most keys end with one value: an array grown by push keeps spare room, a literal does not.
    if (values.length === 1) values = [values[0]!];
    if (values.length) byPartition[partitioner(key)]!.push([key, values]);
  }
  current = undefined;
  if (others.size) {
    const byKey = new Map(byPartition.flat().map((kv) => [kv[0], kv]));
    for (const [key, extra] of others) {
      const kv = byKey.get(key);
      if (kv) for (const v of extra) kv[1].push(v);
      else byPartition[partitioner(key)]!.push([key, extra]);
    }
  }

  let written = 0;
  const partitions = byPartition.map((kvs, p) => {
    sortByKey(kvs);
    const out = new OutputFile(outPaths[p]!);
    for (const [key, values] of kvs) {
      for (const value of values) writeStringRecord(out, key, value);
      written += values.length;
    }
    return out.close();
  });

  counters.add('map.input.records', inRecords);
  counters.add('map.input.chars', inBytes);
  counters.add('map.output.records', outRecords);
  counters.add('map.output.records.after.combine', written);
  return { partitions, counters: counters.toObject() };
}

/** Runs map on every line of the split, with `ctx.offset` at the line's; a map error says where in the input. */
function mapLines(job: Job, input: MapInput, ctx: MapContext & { offset: number }): { records: number; chars: number } {
  const map = job.map.bind(job);
  let records = 0;
  let chars = 0;
  try {
    readSplitLines(input.blocks, input.start, input.end, input.fileSize, (line, offset) => {
      records++;
      chars += line.length + 1;
      ctx.offset = offset;
      const r = map(line, ctx);
      if (r !== undefined) synchronous('map', r);
    });
  } catch (e) {
    // Where in the input, for the user: the error's own stack (in the attempt's log) says where in the code.
    if (e instanceof SplitLineError) throw e;
    const where = `on the line at offset ${ctx.offset} of ${input.file}`;
    if (!(e instanceof Error)) throw new Error(`${where}: map threw ${String(e)}`);
    const message = `${where}: ${e.message}`;
    try { e.message = message; } catch { /* a read-only message (DOMException, a frozen error) */ }
    if (e.message !== message) throw new Error(message, { cause: e });
    throw e;
  }
  return { records, chars };
}

/**
 * A map-only job's map (no reduces, as Hadoop's setNumReduceTasks(0)): what map emits is the
 * job's output, written as it comes (no combiner, no partitions, no sort) in the format of a
 * reduce's, `key<TAB>value` lines (a key alone when the value is empty).
 */
function runMapOnly(job: Job, input: MapInput, conf: Conf, outPath: string, cacheFile: (name: string) => string): MapResult {
  const counters = new Counters();
  const out = new OutputFile(outPath);
  let outRecords = 0;
  const ctx: MapContext & { offset: number } = {
    emit(key, value) {
      checkStrings(key, value);
      out.writeString(value === '' ? key + '\n' : key + '\t' + value + '\n');
      outRecords++;
    },
    file: input.file,
    offset: 0,
    conf,
    count: (name, by = 1) => counters.add(name, by),
    cacheFile,
  };
  let read: { records: number; chars: number };
  try {
    read = mapLines(job, input, ctx);
  } catch (e) {
    out.discard();
    throw e;
  }
  const file = out.close();
  counters.add('map.input.records', read.records);
  counters.add('map.input.chars', read.chars);
  counters.add('map.output.records', outRecords);
  counters.add('map.output.bytes', file.size);
  return { partitions: [file], counters: counters.toObject() };
}

/**
 * map, combine and reduce run to their end before their output is taken: one that returned a
 * Promise (an async function) would emit into a closed task, or never. That is an error, not an
 * empty output.
 */
export function synchronous(what: 'map' | 'combine' | 'reduce', returned: unknown): void {
  if (typeof (returned as { then?: unknown } | undefined)?.then === 'function') {
    // Its rejection is this error's doing: left unhandled, it would fail whatever task the worker runs next.
    Promise.resolve(returned).catch(() => {});
    throw new TypeError(`${what} returned a Promise: map, combine and reduce must be synchronous functions that emit before they return (bftmr does not await them)`);
  }
}

function checkStrings(key: unknown, value: unknown): void {
  if (typeof key !== 'string' || typeof value !== 'string') {
    throw new TypeError(`emit(key, value) takes strings, got ${typeof key} and ${typeof value}`);
  }
}

function appendValue(into: Map<string, string[]>, key: string, value: string): void {
  const list = into.get(key);
  if (list === undefined) into.set(key, [value]);
  else list.push(value);
}

/**
 * One record of a string key and value. Short ASCII strings (most keys and values) are copied
 * char by char, which beats a call into the UTF-8 encoder per string; the bytes are the same.
 */
function writeStringRecord(out: OutputFile, key: string, value: string): void {
  const r = out.reserve(2 + key.length + value.length);
  if (r) {
    let pos = putAscii(r.buf, r.pos, key);
    if (pos >= 0) pos = putAscii(r.buf, pos, value);
    if (pos >= 0) { out.advance(pos - r.pos); return; }
  }
  writeRecord(out, Buffer.from(key, 'utf8'), value);
}

/** [length][bytes] of an ASCII string shorter than 128 chars at `pos`; the end, or -1 for any other string. */
function putAscii(buf: Buffer, pos: number, s: string): number {
  const n = s.length;
  if (n >= 0x80) return -1;
  buf[pos] = n;
  for (let k = 0; k < n; k++) {
    const c = s.charCodeAt(k);
    if (c >= 0x80) return -1;
    buf[pos + 1 + k] = c;
  }
  return pos + 1 + n;
}

export function writeRecord(out: OutputFile, key: Uint8Array, value: string): void {
  const valueMax = value.length * 3;
  const r = out.reserve(varintSize(key.length) + key.length + 5 + valueMax);
  if (r) {
    let pos = writeVarint(r.buf, r.pos, key.length);
    r.buf.set(key, pos);
    pos += key.length;
    const valueLen = Buffer.byteLength(value, 'utf8');
    pos = writeVarint(r.buf, pos, valueLen);
    pos += r.buf.write(value, pos, 'utf8');
    out.advance(pos - r.pos);
    return;
  }
  // A record larger than the buffer.
  const vb = Buffer.from(value, 'utf8');
  const head = Buffer.allocUnsafe(varintSize(key.length));
  writeVarint(head, 0, key.length);
  out.writeBytes(head);
  out.writeBytes(key);
  const vhead = Buffer.allocUnsafe(varintSize(vb.length));
  writeVarint(vhead, 0, vb.length);
  out.writeBytes(vhead);
  out.writeBytes(vb);
}
