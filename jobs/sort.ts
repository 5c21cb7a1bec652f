/**
 * Sort: every input line, in byte order, duplicates kept, as `LC_ALL=C sort` prints them. A
 * total-order partitioner gives each reduce one contiguous range of keys, so the part files read
 * in order are the whole sorted input. The ranges: `--conf splits=g,n,t` (the R-1 keys where the
 * next range starts, in byte order; a JSON array if keys contain commas), or else by each line's
 * first byte, spread evenly over printable ASCII (text in other scripts all goes to the last reduce).
 * Each output line is the input line alone: a record with an empty value is written as its key.
 */
import type { Conf, Job } from 'bftmr';

let cached: { spec: string; splits: Buffer[] } | undefined;

/** The split keys of `--conf splits`, as UTF-8 bytes (so they compare as the keys do). */
function splitKeys(conf: Conf): Buffer[] | undefined {
  const spec = conf.splits;
  if (spec === undefined || spec === '') return undefined;
  if (cached?.spec !== spec) {
    const keys: unknown = spec.startsWith('[') ? JSON.parse(spec) : spec.split(',');
    if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string')) throw new Error('--conf splits takes keys separated by commas, or a JSON array of strings');
    const splits = keys.map((k: string) => Buffer.from(k));
    for (let i = 1; i < splits.length; i++) {
      if (Buffer.compare(splits[i - 1]!, splits[i]!) >= 0) throw new Error(`--conf splits must be in increasing byte order: ${JSON.stringify(keys)}`);
    }
    cached = { spec, splits };
  }
  return cached.splits;
}

/** The first byte of a key's UTF-8 encoding (-1 for the empty key): UTF-8 keeps code point order. */
function firstByte(key: string): number {
  if (key.length === 0) return -1;
  const cp = key.codePointAt(0)!;
  return cp < 0x80 ? cp : cp < 0x800 ? 0xc0 | (cp >> 6) : cp < 0x10000 ? 0xe0 | (cp >> 12) : 0xf0 | (cp >> 18);
}

export default {
  map(line, ctx) {
    ctx.emit(line, '');
  },
  reduce(line, copies, ctx) {
    for (let i = 0; i < copies.length; i++) ctx.emit(line, '');
  },
  partition(key, numPartitions, conf) {
    const splits = splitKeys(conf);
    if (splits) {
      if (splits.length !== numPartitions - 1) throw new Error(`--conf splits has ${splits.length} keys; ${numPartitions} reduces need ${numPartitions - 1}`);
      const k = Buffer.from(key);
      let p = 0;
      while (p < splits.length && Buffer.compare(splits[p]!, k) <= 0) p++;
      return p;
    }
    const b = firstByte(key);
    if (b < 0x21) return 0;
    if (b > 0x7e) return numPartitions - 1;
    return Math.floor(((b - 0x21) * numPartitions) / 0x5e);
  },
} satisfies Job;
