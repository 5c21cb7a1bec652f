/**
 * The piscina adapter: a tracker's slots are the threads of one pool. Attempts run there, never
 * on the main thread, each with a heap cap so a runaway user task cannot take the tracker down.
 */
import { Piscina } from 'piscina';
import type { Work, WorkResult } from './worker.ts';
import { TS_LOADER } from '../lib/loader.ts';

export class TaskPool {
  readonly #pool: Piscina;

  constructor(slots: number, taskMemoryMb: number) {
    this.#pool = new Piscina({
      filename: new URL('./worker.ts', import.meta.url).href,
      minThreads: slots,
      maxThreads: slots,
      // Attempts beyond the slots wait here; the job tracker normally sends no more than the slots.
      maxQueue: 'auto',
      idleTimeout: 60_000,
      resourceLimits: { maxOldGenerationSizeMb: taskMemoryMb },
      // Workers load TypeScript (worker.ts) through the same loader as the tracker.
      execArgv: ['--import', TS_LOADER],
    });
  }

  run(work: Work, signal?: AbortSignal): Promise<WorkResult> {
    return this.#pool.run(work, { signal });
  }

  close(): Promise<void> {
    return this.#pool.destroy();
  }
}
