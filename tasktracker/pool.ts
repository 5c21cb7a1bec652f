/**
 * The piscina adapter: a tracker's slots are threads, and attempts run there, never on the main
 * thread, each with a heap cap so a runaway user task cannot take the tracker down.
 *
 * Each job has threads of its own, as Hadoop never reuses a task JVM across jobs: whatever one
 * job's code does to its thread (a changed built-in such as String.prototype.toLowerCase, a
 * module-level cache, a timer) cannot reach another job's tasks, whose votes it would otherwise
 * sway on every tracker alike. A spare pool is started at the start and whenever a job ends, so a
 * job's first attempt here seldom waits for threads; a job's pool ends with the job (endJob), or
 * when it has been idle a while.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildSync } from 'esbuild';
import { Piscina } from 'piscina';
import type { Work, WorkResult } from './worker.ts';

/** A job's pool idle this long goes (its threads with it); a later attempt of the job gets a new one. */
const IDLE_JOB_POOL_MS = 5 * 60_000;

interface JobPool { pool: Piscina; running: number; idleSince: number }

export class TaskPool {
  readonly #jobs = new Map<string, JobPool>();
  #spare: Piscina | undefined;
  #closed = false;
  readonly #reaper: NodeJS.Timeout;

  readonly #worker: string;

  /** `dir`: where the worker module is written (the tracker's own directory). */
  constructor(private readonly slots: number, private readonly taskMemoryMb: number, dir: string,
    private readonly idleJobPoolMs = IDLE_JOB_POOL_MS) {
    this.#worker = workerModule(dir);
    this.#spare = this.#make();
    this.#reaper = setInterval(() => this.#reap(), Math.min(60_000, idleJobPoolMs)).unref();
  }

  #make(): Piscina {
    return new Piscina({
      filename: this.#worker,
      minThreads: this.slots,
      maxThreads: this.slots,
      // Attempts beyond the slots wait here; the job tracker normally sends no more than the slots.
      maxQueue: 'auto',
      resourceLimits: { maxOldGenerationSizeMb: this.taskMemoryMb },
      // Plain JavaScript: no TypeScript loader in the threads (see workerModule).
      execArgv: [],
    });
  }

  async run(work: Work, signal?: AbortSignal): Promise<WorkResult> {
    if (this.#closed) throw new Error('the task pool is closed');
    let job = this.#jobs.get(work.jobId);
    if (!job) {
      job = { pool: this.#spare ?? this.#make(), running: 0, idleSince: 0 };
      this.#spare = undefined;
      this.#jobs.set(work.jobId, job);
    }
    job.running++;
    try {
      return (await job.pool.run(work, { signal })) as WorkResult;
    } finally {
      job.running--;
      job.idleSince = Date.now();
    }
  }

  /** The job is over here: its threads end, and with them whatever its code left in them. */
  async endJob(jobId: string): Promise<void> {
    const job = this.#jobs.get(jobId);
    if (!job) return;
    this.#jobs.delete(jobId);
    // The next job's threads start now, while this tracker has no attempt of this one to run
    // (not at a job's start: they would take CPU from its first attempts).
    if (!this.#closed) this.#spare ??= this.#make();
    await job.pool.destroy();
  }

  /** Jobs with threads here now. */
  jobs(): string[] {
    return [...this.#jobs.keys()];
  }

  #reap(): void {
    const now = Date.now();
    for (const [jobId, job] of this.#jobs) {
      if (job.running === 0 && now - job.idleSince >= this.idleJobPoolMs) void this.endJob(jobId);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#reaper);
    const pools = [...this.#jobs.values()].map((j) => j.pool);
    if (this.#spare) pools.push(this.#spare);
    this.#jobs.clear();
    this.#spare = undefined;
    await Promise.all(pools.map((p) => p.destroy()));
  }
}

/**
 * worker.ts and all it imports (node's own modules aside) as one plain ES module, written to
 * `dir`: a thread starts in a fifth of the time it takes through the TypeScript loader, without
 * the loader's own thread, which matters now that every job starts threads of its own. Its
 * inline source map keeps stack traces in the TypeScript sources.
 */
function workerModule(dir: string): string {
  const result = buildSync({
    entryPoints: [fileURLToPath(new URL('./worker.ts', import.meta.url))],
    bundle: true, platform: 'node', format: 'esm', target: 'node20', sourcemap: 'inline', write: false, logLevel: 'silent',
  });
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'task-worker.mjs');
  fs.writeFileSync(`${file}.tmp`, result.outputFiles[0]!.contents);
  fs.renameSync(`${file}.tmp`, file);
  return pathToFileURL(file).href;
}
