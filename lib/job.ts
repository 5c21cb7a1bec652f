/**
 * The public API of a bftmr job. A job is a TypeScript module whose default export is a `Job`:
 *
 *   import type { Job } from 'bftmr';
 *   export default {
 *     map(line, ctx) { for (const w of line.split(' ')) ctx.emit(w, '1'); },
 *     reduce(key, values, ctx) { ctx.emit(key, String(values.length)); },
 *   } satisfies Job;
 *
 * Keys and values are strings; keys are compared as UTF-8 bytes. Everything a task sees must
 * be the same on every tracker (votes compare output bytes), so inside tasks `Math.random` is
 * seeded per task and `Date` is fixed to the job's start.
 */

/** User configuration given as `--conf key=value`. */
export type Conf = Readonly<Record<string, string>>;

export interface MapContext {
  /**
   * Emit an intermediate record; in a map-only job (`--reduces 0`), an output line, written as
   * it comes: `key<TAB>value` (the key alone when the value is empty).
   */
  emit(key: string, value: string): void;
  /** dfs path of the file the current line came from (joins, inverted indexes). */
  readonly file: string;
  /** Byte offset of the current line in that file. */
  readonly offset: number;
  readonly conf: Conf;
  /** Add to a user counter; only counters of agreed attempts are reported. */
  count(name: string, by?: number): void;
  /**
   * The text (UTF-8) of a cache file of the job (`--cache-file PATH`), by its dfs path or base
   * name: side data every task reads whole, such as a stop-word list or a join's small table.
   */
  cacheFile(name: string): string;
}

export interface ReduceContext {
  /** Emit an output record, written as `key<TAB>value` (the key alone when the value is ''). */
  emit(key: string, value: string): void;
  /** The partition (reduce task index) being processed. */
  readonly partition: number;
  readonly numPartitions: number;
  readonly conf: Conf;
  count(name: string, by?: number): void;
  /** As MapContext.cacheFile. */
  cacheFile(name: string): string;
}

export interface Job {
  /** Called once per input line (without its line ending). */
  map(line: string, ctx: MapContext): void;
  /**
   * Optional local aggregation of one map task's output. It runs at points that depend only on
   * the input (never on timing or memory), so every attempt produces identical bytes. Like
   * Hadoop's combiner it may run any number of times on a key, or not at all (a key left with one
   * value is not combined), so the reduce must accept its output and its input alike.
   */
  combine?(key: string, values: string[], ctx: ReduceContext): void;
  /** Called once per key, with all its values, keys in byte order. */
  reduce(key: string, values: string[], ctx: ReduceContext): void;
  /**
   * Optional: which reduce task gets `key` (default: xxhash32 of the key's bytes mod
   * numPartitions). A total-order sort supplies one that is monotone in the key's bytes.
   */
  partition?(key: string, numPartitions: number, conf: Conf): number;
}
