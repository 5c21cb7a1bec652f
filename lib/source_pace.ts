/**
 * How slow a node serving block bytes may be before a reader gives up on it (dfs/block_transfer.ts),
 * and so how long a Byzantine source can hold an honest reader up: the job tracker adds that much
 * to an attempt's deadline (jobtracker/core/job_in_progress.ts), or a slow source could get the
 * honest tracker reading from it named.
 *
 * A source that sends nothing for `stallMs`, or less than `minBytesPerSec` over the time the reader
 * spent waiting for it (once that passes `graceMs`; the reader's own time on the bytes does not
 * count), is cut off and the next replica is tried.
 */
export interface SourcePace { stallMs: number; minBytesPerSec: number; graceMs: number }

export const kSourcePace: SourcePace = { stallMs: 10_000, minBytesPerSec: 4 * 1024 * 1024, graceMs: 5_000 };

/** The longest one source can keep a reader waiting for a block of `bytes` before it is cut off. */
export function sourceAllowanceMs(bytes: number, pace: SourcePace = kSourcePace): number {
  return pace.graceMs + pace.stallMs + Math.ceil((bytes / pace.minBytesPerSec) * 1000);
}
