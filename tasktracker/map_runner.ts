/**
 * One map attempt, start to end: read the split's lines, run map (and the combiner), partition,
 * sort each partition by key bytes (stable: a key's values keep their emission order) and write
 * one record file per partition, hashing it as it is written.
 */
import type { Conf, Job, MapContext, ReduceContext } from '../lib/job.ts';
import type { XXHash } from '../lib/xxhash.ts';
import { readSplitLines, type LocalBlock } from './line_reader.ts';
import { makePartitioner, sortKeys } from './partitioner.ts';
import { OutputFile } from './output_file.ts';
import { varintSize, writeVarint } from './records.ts';
import { Counters } from './counters.ts';

/**
 * The combiner runs on a key when its buffered values reach this many (and each doubling after),
 * and once more at the end: points that depend only on the input, so every honest attempt
 * writes identical bytes.
 */
export const COMBINE_EVERY = 64;

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

export function runMap(job: Job, input: MapInput, numReduces: number, conf: Conf, outPaths: string[], xx: XXHash): MapResult {
  const counters = new Counters();
  let buffer = new Map<string, string[]>();
  const combine = job.combine?.bind(job);
  let inRecords = 0;
  let outRecords = 0;

  const combineCtx = (emit: (key: string, value: string) => void): ReduceContext => ({
    emit,
    partition: -1,
    numPartitions: numReduces,
    conf,
    count: (name, by = 1) => counters.add(name, by),
  });
  // Eager combining rewrites a key's value list in place: what the combiner emits for that key
  // replaces the list (no Map churn on the hot path); anything it emits for other keys is appended.
  let combiningKey = '';
  let combined: string[] = [];
  const eagerCtx = combineCtx((key, value) => {
    checkStrings(key, value);
    if (key === combiningKey) combined.push(value);
    else appendValue(buffer, key, value);
  });

  const emit = (key: string, value: string): void => {
    checkStrings(key, value);
    outRecords++;
    const list = buffer.get(key);
    if (list === undefined) { buffer.set(key, [value]); return; }
    const n = list.push(value);
    // At 64, 128, 256… values: a combiner that does not shrink the list costs O(n log n), not O(n²).
    if (n >= COMBINE_EVERY && (n & (n - 1)) === 0 && combine) {
      combiningKey = key;
      combined = [];
      combine(key, list, eagerCtx);
      combiningKey = '';
      list.length = 0;
      for (const v of combined) list.push(v);
    }
  };

  const ctx: MapContext & { offset: number } = {
    emit,
    file: input.file,
    offset: 0,
    conf,
    count: (name, by = 1) => counters.add(name, by),
  };
  const map = job.map.bind(job);
  let inBytes = 0;
  readSplitLines(input.blocks, input.start, input.end, input.fileSize, (line, offset) => {
    inRecords++;
    inBytes += line.length + 1;
    ctx.offset = offset;
    map(line, ctx);
  });

  if (combine) {
    const combined = new Map<string, string[]>();
    const final = new Map<string, string[]>();
    const finalCtx = combineCtx((key, value) => { checkStrings(key, value); appendValue(final, key, value); });
    for (const [key, values] of buffer) combine(key, values, finalCtx);
    buffer = final;
  }

  // Partition, then sort each partition's keys by bytes.
  const partitioner = makePartitioner(job, numReduces, conf, xx);
  const keysByPartition: string[][] = Array.from({ length: numReduces }, () => []);
  for (const key of buffer.keys()) keysByPartition[partitioner(key)]!.push(key);

  let written = 0;
  const partitions = keysByPartition.map((keys, p) => {
    sortKeys(keys);
    const out = new OutputFile(outPaths[p]!);
    for (const key of keys) {
      const kb = Buffer.from(key, 'utf8');
      for (const value of buffer.get(key)!) {
        writeRecord(out, kb, value);
        written++;
      }
    }
    return out.close();
  });

  counters.add('map.input.records', inRecords);
  counters.add('map.input.chars', inBytes);
  counters.add('map.output.records', outRecords);
  counters.add('map.output.records.after.combine', written);
  return { partitions, counters: counters.toObject() };
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
