/**
 * Determinism inside task workers: votes compare bytes, so whatever a job reads from the
 * environment must be the same on every tracker. `Math.random` is seeded per task (not per
 * attempt: every attempt of a task sees the same sequence) and `Date` is fixed to the job's start.
 */
import { createHash } from 'node:crypto';

let state = 0;
let fixedNowMs = 0;
let installed = false;

function mulberry32(): number {
  state = (state + 0x6d2b79f5) | 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

function install(): void {
  if (installed) return;
  installed = true;
  Math.random = mulberry32;
  const RealDate = Date;
  // A Date whose "now" is the job's start; explicit dates still work as usual.
  const FixedDate = function (this: unknown, ...args: unknown[]) {
    if (!new.target) return new RealDate(fixedNowMs).toString();
    return args.length === 0 ? new RealDate(fixedNowMs) : new (RealDate as any)(...args);
  } as unknown as DateConstructor;
  Object.setPrototypeOf(FixedDate, RealDate);
  (FixedDate as any).prototype = RealDate.prototype;
  (FixedDate as any).now = () => fixedNowMs;
  globalThis.Date = FixedDate;
}

/** Prepares the sandbox for one task: `taskKey` names the task (job id + task index). */
export function enterTask(taskKey: string, jobStartMs: number): void {
  install();
  state = createHash('sha256').update(taskKey).digest().readInt32LE(0);
  fixedNowMs = jobStartMs;
}
