/**
 * The storage node's own scrubber: re-hashes the dfs blocks it holds in the background, reading
 * at most `bytesPerSec`, so that bit rot is found before a reader finds it. A block whose bytes
 * no longer hash to its name (or are gone) stops being a dfs block here and is reported with the
 * next heartbeat; the job tracker then copies it again from a verified replica. A faulty node
 * may not scrub, or not say: the job tracker's own audits (jobtracker/block_audit.ts) do not
 * rely on this.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { isBftmrError, messageOf } from '../lib/errors.ts';
import { newHasher, type Digest } from '../lib/digest.ts';
import { DFS_OWNER, reusedMemory, type BlockStore } from '../dfs/block_store.ts';

export interface ScrubberOptions {
  /** Read rate cap; 0 turns scrubbing off. */
  bytesPerSec: number;
  /** Pause between two passes over every block. */
  passIntervalMs: number;
}

export class Scrubber {
  readonly #store: BlockStore;
  readonly #opts: ScrubberOptions;
  readonly #onBad: (digest: Digest) => void;
  readonly #log: (line: string) => void;
  readonly #ac = new AbortController();
  #done: Promise<void> = Promise.resolve();

  constructor(store: BlockStore, opts: ScrubberOptions, onBad: (digest: Digest) => void, log: (line: string) => void) {
    this.#store = store;
    this.#opts = opts;
    this.#onBad = onBad;
    this.#log = log;
  }

  start(): void {
    if (this.#opts.bytesPerSec <= 0) return;
    this.#done = this.#run().catch((e) => {
      if (!this.#ac.signal.aborted) this.#log(`scrubber stopped: ${messageOf(e)}`);
    });
  }

  async stop(): Promise<void> {
    this.#ac.abort();
    await this.#done;
  }

  async #run(): Promise<void> {
    const signal = this.#ac.signal;
    for (;;) {
      await sleep(this.#opts.passIntervalMs, undefined, { signal });
      const digests: Digest[] = [];
      for await (const b of this.#store.list()) if (b.owners.includes(DFS_OWNER)) digests.push(b.digest);
      for (const d of digests) {
        signal.throwIfAborted();
        const unsound = await this.#unsound(d, signal);
        if (unsound) {
          await this.#store.release(DFS_OWNER, [d]);
          this.#log(`scrubber: block ${d.slice(0, 12)} is bad here (${unsound}); reported`);
          this.#onBad(d);
        }
      }
    }
  }

  /**
   * Why the block's bytes are no longer its own here, or '' if they still hash to its name, or it
   * was released meanwhile, or could not be read for a reason that may pass (EMFILE, ENOMEM, EIO:
   * logged, and read again next pass; the job tracker's audits still check the copy). Reads are
   * paced to the rate cap. One block's error does not stop the scrubber.
   */
  async #unsound(digest: Digest, signal: AbortSignal): Promise<string> {
    const hash = newHasher();
    const started = performance.now();
    let bytes = 0;
    const memory = reusedMemory();
    try {
      for await (const chunk of this.#store.read(digest, 0, 0, memory)) {
        hash.update(chunk);
        bytes += chunk.length;
        const aheadMs = (bytes / this.#opts.bytesPerSec) * 1000 - (performance.now() - started);
        if (aheadMs > 0) await sleep(aheadMs, undefined, { signal });
      }
    } catch (e) {
      if (signal.aborted) throw e;
      if ((await this.#store.get(digest)) === undefined) return ''; // released meanwhile: fine
      // Gone, or no longer a file of its own (the store says so): bad. Anything else may pass.
      if (isBftmrError(e, 'DFS_NOT_FOUND')) return 'its bytes are gone';
      this.#log(`scrubber: block ${digest.slice(0, 12)} could not be read (${messageOf(e)}); it is read again next pass`);
      return '';
    }
    return hash.digest('hex') === digest ? '' : 'its bytes do not hash to its name';
  }
}
