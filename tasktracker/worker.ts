/**
 * The piscina worker: runs one map or reduce attempt on a thread of the tracker's pool.
 * User code is loaded here (never in the tracker's main thread), from the bundle the tracker
 * fetched and verified against its SHA-256.
 */
import { pathToFileURL } from 'node:url';
import { isMainThread } from 'node:worker_threads';
import { messageOf } from '../lib/errors.ts';
import type { Conf, Job } from '../lib/job.ts';
import { loadXXHash } from '../lib/xxhash.ts';
import { runMap, type MapInput, type MapResult } from './map_runner.ts';
import { runReduce, type ReduceResult } from './reduce_runner.ts';
import { enterTask } from './sandbox.ts';
import { captureConsole } from './task_log.ts';
import { cacheReader, type LocalCacheFile } from './cache_files.ts';

interface TaskCommon {
  jobId: string;          // each job's attempts run on threads of its own (pool.ts)
  taskKey: string;        // job id + task: seeds Math.random identically in every attempt
  jobStartMs: number;
  bundlePath: string;
  bundleDigest: string;
  conf: Conf;
  numReduces: number;
  /** Where what the task's code logs goes (task_log.ts). */
  logPath: string;
  /** The job's cache files, fetched and verified (cache_files.ts). */
  cache: LocalCacheFile[];
}

export interface MapWork extends TaskCommon { kind: 'map'; input: MapInput; outPaths: string[] }
export interface ReduceWork extends TaskCommon {
  kind: 'reduce';
  inputs: (string | undefined)[];
  partition: number;
  outPath: string;
}
export type Work = MapWork | ReduceWork;
export type WorkResult = MapResult | ReduceResult;

const jobs = new Map<string, Promise<Job>>();
// A job's bundle carries a source map: errors in its code name the user's own file and line.
process.setSourceMapsEnabled(true);

/**
 * What checking a job module needs of it: the type of its default export ('null' for null) and of
 * each of the export's methods. (cli/bundle.ts runs jobShape's source in the thread that loads
 * the module: it must use nothing but its argument.)
 */
export interface JobShape { default: string; map?: string; reduce?: string; combine?: string; partition?: string }

export function jobShape(mod: unknown): JobShape {
  const job = (mod as { default?: unknown } | undefined)?.default as Record<string, unknown> | null | undefined;
  if (job === null || typeof job !== 'object') return { default: job === null ? 'null' : typeof job };
  return { default: 'object', map: typeof job.map, reduce: typeof job.reduce, combine: typeof job.combine, partition: typeof job.partition };
}

/** Why a module of this shape is not a job, or undefined. */
export function jobShapeError(s: JobShape): string | undefined {
  if (s.default !== 'object') return 'the module has no default export (export default { map, reduce })';
  if (s.map !== 'function') return 'the default export has no map function';
  if (s.reduce !== 'function') return 'the default export has no reduce function';
  for (const opt of ['combine', 'partition'] as const) {
    if (s[opt] !== 'undefined' && s[opt] !== 'function') return `${opt} must be a function`;
  }
  return undefined;
}

export function validateJobModule(mod: unknown): Job {
  const error = jobShapeError(jobShape(mod));
  if (error) throw new Error(error);
  return (mod as { default: Job }).default;
}

function loadJob(path: string, digest: string): Promise<Job> {
  let job = jobs.get(digest);
  if (!job) {
    job = import(pathToFileURL(path).href).then(validateJobModule);
    jobs.set(digest, job);
  }
  return job;
}

/**
 * Rejections nobody handled: a job's code that started a promise it did not await (map, combine
 * and reduce are synchronous). Node's default would end the worker, and piscina would fail
 * whatever task the worker took next, of any job. Here they fail the task that was running.
 */
let strays: unknown[] = [];
let guarded = false;
function guardRejections(): void {
  if (guarded || isMainThread) return;
  guarded = true;
  process.on('unhandledRejection', (reason) => { strays.push(reason); });
}

export default async function runWork(work: Work): Promise<WorkResult> {
  guardRejections();
  // A piscina thread's event loop stands still between tasks (it waits with Atomics), so timers an
  // earlier task left fire only now: one turn of the loop (and the load) lets those already due run.
  const [job, xx] = await Promise.all([loadJob(work.bundlePath, work.bundleDigest), loadXXHash(), new Promise((r) => setImmediate(r))]);
  // One left by an earlier task after it ended (a timer's, firing before now: during that load,
  // say) is not this task's doing. From here to the check below, this task's code runs.
  for (const r of strays) process.stderr.write(`a task's code left a promise that was rejected after the task ended: ${messageOf(r)}\n`);
  strays = [];
  enterTask(work.taskKey, work.jobStartMs);
  const log = captureConsole(work.logPath);
  try {
    const cacheFile = cacheReader(work.cache);
    const result = work.kind === 'map'
      ? runMap(job, work.input, work.numReduces, work.conf, work.outPaths, xx, cacheFile)
      : runReduce(job, work.inputs, work.partition, work.numReduces, work.conf, work.outPath, cacheFile);
    // Promises the code started settle now; Node reports unhandled rejections once its microtasks are done.
    await new Promise((resolve) => setImmediate(resolve));
    if (strays.length) {
      throw new Error(`${work.kind} code left a promise that was rejected (map, combine and reduce must be synchronous): ${messageOf(strays[0])}`);
    }
    log.finish();
    return result;
  } catch (e) {
    log.finish(e);
    throw e;
  }
}
