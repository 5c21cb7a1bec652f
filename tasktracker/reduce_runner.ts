/**
 * One reduce attempt: merge the sorted map outputs of its partition (ties between maps broken by
 * map index, so every honest attempt sees a key's values in the same order), call reduce once per
 * key, and write `key<TAB>value` lines (a record with an empty value is its key alone, as Hadoop
 * writes a null value), hashing them as they are written.
 */
import type { Conf, Job, ReduceContext } from '../lib/job.ts';
import { cacheReader } from './cache_files.ts';
import { RecordFileReader, type RawRecord } from './records.ts';
import { OutputFile } from './output_file.ts';
import { Counters } from './counters.ts';
import { MinHeap } from '../lib/min_heap.ts';
import { synchronous } from './map_runner.ts';

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

/** `inputs[i]` is the record file of map i, or undefined when that map's partition is empty. */
export function runReduce(
  job: Job,
  inputs: (string | undefined)[],
  partition: number,
  numPartitions: number,
  conf: Conf,
  outPath: string,
  cacheFile: (name: string) => string = cacheReader([]),
): ReduceResult {
  const counters = new Counters();
  const out = new OutputFile(outPath);
  let outRecords = 0;
  const ctx: ReduceContext = {
    emit(key, value) {
      if (typeof key !== 'string' || typeof value !== 'string') {
        throw new TypeError(`emit(key, value) takes strings, got ${typeof key} and ${typeof value}`);
      }
      out.writeString(value === '' ? key + '\n' : key + '\t' + value + '\n');
      outRecords++;
    },
    partition,
    numPartitions,
    conf,
    count: (name, by = 1) => counters.add(name, by),
    cacheFile,
  };

  // Reader heads, ordered by (key bytes, map index).
  const heap = new MinHeap<Head>(less);
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
    while (heap.size > 0) {
      const key = heap.peek()!.rec.key;
      const values: string[] = [];
      while (heap.size > 0 && heap.peek()!.rec.key.equals(key)) {
        const top = heap.peek()!;
        values.push(top.rec.value);
        const next = top.reader.next();
        heap.replaceTop(next ? { rec: next, mapIndex: top.mapIndex, reader: top.reader } : undefined);
      }
      inRecords += values.length;
      groups++;
      synchronous('reduce', reduce(key.toString('utf8'), values, ctx));
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
