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

/**
 * Gives up on a peer the caller waits on (a write blocked on its flow control, an acknowledgement)
 * once one wait has lasted `ms`, calling `onSilent` (which should cancel the call). Only time spent
 * waiting counts, and in steps of at most two ticks: a process that was itself stopped (Ctrl-Z, a
 * machine asleep) does not take that for the peer's silence.
 */
export class WaitWatch {
  #waiting = false;
  #waited = 0;
  #limit = 0;
  #last = performance.now();
  readonly #timer: NodeJS.Timeout;
  /** The limit of the wait that was given up (0: none), and what it waited for. */
  silentForMs = 0;
  silentFor = '';
  #what = '';

  constructor(onSilent: () => void, tickMs = 250) {
    this.#timer = setInterval(() => {
      const now = performance.now();
      if (this.#waiting) this.#waited += Math.min(now - this.#last, 2 * tickMs);
      this.#last = now;
      if (this.#waiting && !this.silentForMs && this.#waited >= this.#limit) {
        this.silentForMs = this.#limit;
        this.silentFor = this.#what;
        onSilent();
      }
    }, tickMs);
    this.#timer.unref();
  }

  /** `p`, waited on for at most `ms`; `what` it waits for, in words. */
  async on<T>(p: Promise<T>, ms: number, what = ''): Promise<T> {
    this.#what = what;
    this.#waiting = true;
    this.#waited = 0;
    this.#limit = ms;
    try {
      return await p;
    } finally {
      this.#waiting = false;
    }
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
