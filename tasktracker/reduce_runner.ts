/**
 * One reduce attempt: merge the sorted map outputs of its partition (ties between maps broken by
 * map index, so every honest attempt sees a key's values in the same order), call reduce once per
 * key, and write `key<TAB>value` lines, hashing them as they are written.
 */
import type { Conf, Job, ReduceContext } from '../lib/job.ts';
import { RecordFileReader, type RawRecord } from './records.ts';
import { OutputFile } from './output_file.ts';
import { Counters } from './counters.ts';

export interface ReduceResult {
  digest: string;
  size: number;
  counters: Record<string, number>;
}

interface Head {
  rec: RawRecord;
  mapIndex: number;
  reader: RecordFileReader;
}

function less(a: Head, b: Head): boolean {
  const c = Buffer.compare(a.rec.key, b.rec.key);
  return c < 0 || (c === 0 && a.mapIndex < b.mapIndex);
}

/** A binary min-heap of reader heads, ordered by (key bytes, map index). */
class MergeHeap {
  readonly items: Head[] = [];
  push(h: Head): void {
    const a = this.items;
    a.push(h);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  /** Replaces the top with `h` (or removes it when undefined) and restores the order. */
  replaceTop(h: Head | undefined): void {
    const a = this.items;
    if (h) a[0] = h;
    else {
      const last = a.pop()!;
      if (a.length === 0) return;
      a[0] = last;
    }
    let i = 0;
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < a.length && less(a[l]!, a[m]!)) m = l;
      if (r < a.length && less(a[r]!, a[m]!)) m = r;
      if (m === i) break;
      [a[i], a[m]] = [a[m]!, a[i]!];
      i = m;
    }
  }
}

/** `inputs[i]` is the record file of map i, or undefined when that map's partition is empty. */
export function runReduce(
  job: Job,
  inputs: (string | undefined)[],
  partition: number,
  numPartitions: number,
  conf: Conf,
  outPath: string,
): ReduceResult {
  const counters = new Counters();
  const out = new OutputFile(outPath);
  let outRecords = 0;
  const ctx: ReduceContext = {
    emit(key, value) {
      if (typeof key !== 'string' || typeof value !== 'string') {
        throw new TypeError(`emit(key, value) takes strings, got ${typeof key} and ${typeof value}`);
      }
      out.writeString(key + '\t' + value + '\n');
      outRecords++;
    },
    partition,
    numPartitions,
    conf,
    count: (name, by = 1) => counters.add(name, by),
  };

  const heap = new MergeHeap();
  const readers: RecordFileReader[] = [];
  try {
    inputs.forEach((path, mapIndex) => {
      if (path === undefined) return;
      const reader = new RecordFileReader(path);
      readers.push(reader);
      const rec = reader.next();
      if (rec) heap.push({ rec, mapIndex, reader });
    });

    const reduce = job.reduce.bind(job);
    let inRecords = 0;
    let groups = 0;
    while (heap.items.length > 0) {
      const key = heap.items[0]!.rec.key;
      const values: string[] = [];
      while (heap.items.length > 0 && heap.items[0]!.rec.key.equals(key)) {
        const top = heap.items[0]!;
        values.push(top.rec.value);
        const next = top.reader.next();
        heap.replaceTop(next ? { rec: next, mapIndex: top.mapIndex, reader: top.reader } : undefined);
      }
      inRecords += values.length;
      groups++;
      reduce(key.toString('utf8'), values, ctx);
    }
    counters.add('reduce.input.records', inRecords);
    counters.add('reduce.input.groups', groups);
    counters.add('reduce.output.records', outRecords);
  } finally {
    for (const r of readers) r.close();
  }
  const { digest, size } = out.close();
  counters.add('reduce.output.bytes', size);
  return { digest, size, counters: counters.toObject() };
}
