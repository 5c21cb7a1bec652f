/**
 * One reduce attempt: merge the sorted map outputs of its partition (ties between maps broken by
 * map index, so every honest attempt sees a key's values in the same order), call reduce once per
 * key, and write `key<TAB>value` lines (a record with an empty value is its key alone, as Hadoop
 * writes a null value), hashing them as they are written.
 */
import type { Conf, Job, ReduceContext } from '../lib/job.ts';
import { cacheReader } from './cache_files.ts';
import { RecordFileReader } from './records.ts';
import { OutputFile } from './output_file.ts';
import { Counters } from './counters.ts';
import { MinHeap } from '../lib/min_heap.ts';
import { synchronous } from './map_runner.ts';
import { compareKeys } from './partitioner.ts';

export interface ReduceResult {
  digest: string;
  size: number;
  counters: Record<string, number>;
}

/** An input's reader, at its current record. */
interface Head {
  reader: RecordFileReader;
  mapIndex: number;
}

/** By key bytes, then map index. Keys without high characters compare as strings do (the same order, see compareKeys). */
function less(a: Head, b: Head): boolean {
  const x = a.reader, y = b.reader;
  const c = x.high || y.high ? compareKeys(x.key, y.key) : x.key < y.key ? -1 : x.key === y.key ? 0 : 1;
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
      if (reader.next()) heap.push({ reader, mapIndex });
    });

    const reduce = job.reduce.bind(job);
    let inRecords = 0;
    let groups = 0;
    while (heap.size > 0) {
      const key = heap.peek()!.reader.key;
      const values: string[] = [];
      // (Equal strings are equal UTF-8 bytes.)
      while (heap.size > 0 && heap.peek()!.reader.key === key) {
        const top = heap.peek()!;
        values.push(top.reader.value);
        heap.replaceTop(top.reader.next() ? top : undefined);
      }
      inRecords += values.length;
      groups++;
      synchronous('reduce', reduce(key, values, ctx));
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
