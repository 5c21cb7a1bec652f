/**
 * Every tunable, with its default, in one place. Only entry points (cli/ and each daemon main.ts) read argv and
 * the environment; everything else takes these objects.
 */
import os from 'node:os';
import path from 'node:path';

export const MB = 1024 * 1024;

export interface JobTrackerOptions {
  dir: string;
  listen: string;                 // host:port; port 0 picks a free one
  heartbeatIntervalMs: number;    // trackers heartbeat this often…
  heartbeatsPerSec: number;       // …or less often on a big cluster: at most this many periodic heartbeats a second
  trackerExpiryMs: number;        // no heartbeat for this long (stretched as the interval is): the tracker is dead
  blacklistAfterVerdicts: number; // a tracker proven faulty more often than this is no longer used
  lateFactor: number;             // an attempt is late past this many times its siblings' median time per byte of input…
  lateFloorMs: number;            // …and at least this long
  deadlineFactor: number;         // a heartbeating tracker still running an attempt past this many times its decided task's (or siblings') pace…
  deadlineFloorMs: number;        // …and at least this long missed its deadline: a verdict
  pairWaitMs: number;             // a free slot waits this long (or a quarter of the job's median map time) before it takes a fresh map whose f+1 attempts cannot all start now
  dfsAuditIntervalMs: number;     // one audit of a random dfs replica per interval (0: none)
  jobHistory: number;             // finished jobs kept (status, attempts, records); the oldest beyond go
  writeLeaseMs: number;           // a put's lease lapses after this long without renewal; its blocks no file lists are then collectable
  jobCodeKeepMs: number;          // a job's code stays in the dfs this long after the last job that ran it ended
}

export const kJobTrackerDefaults: Omit<JobTrackerOptions, 'dir'> = {
  listen: '127.0.0.1:0',
  heartbeatIntervalMs: 250,
  heartbeatsPerSec: 200,
  trackerExpiryMs: 10_000,
  blacklistAfterVerdicts: 2,
  lateFactor: 2,
  lateFloorMs: 2_000,
  deadlineFactor: 10,
  deadlineFloorMs: 30_000,
  pairWaitMs: 2_000,
  dfsAuditIntervalMs: 5_000,
  jobHistory: 1000,
  writeLeaseMs: 60_000,
  jobCodeKeepMs: 10 * 60_000,
};

export interface TaskTrackerOptions {
  dir: string;
  jobTracker: string;
  listen: string;
  advertiseHost: string;
  slots: number;
  fault: string;                  // '' when honest; see tasktracker/faults.ts
  taskMemoryMb: number;           // per-worker heap cap (piscina resourceLimits)
  scrubMbPerSec: number;          // background re-hashing of held dfs blocks, at most this fast (0: off)
  blockReportMs: number;          // a report of every dfs block held goes with a heartbeat this often
}

export const kTaskTrackerDefaults: Omit<TaskTrackerOptions, 'dir' | 'jobTracker'> = {
  listen: '127.0.0.1:0',
  advertiseHost: '127.0.0.1',
  slots: Math.max(1, Math.min(4, os.availableParallelism())),
  fault: '',
  taskMemoryMb: 512,
  scrubMbPerSec: 4,
  blockReportMs: 5 * 60_000,
};

export interface JobOptions {
  f: number;
  numReduces: number;
  splitBytes: number;
}

export const kJobDefaults: JobOptions = {
  f: 1,
  numReduces: 1,
  splitBytes: 64 * MB,
};

/** Where submits store job code in the dfs, each bundle as <its SHA-256>.mjs, while jobs run it. */
export const JOB_CODE_DIR = '/.bftmr/jobs';
/** The most copies a dfs block may be asked for (HDFS's dfs.replication.max). */
export const MAX_REPLICATION = 512;
/** The longest a GetJob call waits for its job to end (its wait_ms), so a client's deadline is easy to set. */
export const MAX_JOB_WAIT_MS = 60_000;

/**
 * `dfs put` records the SHA-256 of each block's first this many bytes beside the block's own, so
 * a map whose last line runs into the next block can fetch and verify just that block's head.
 */
export const BLOCK_HEAD_BYTES = 1 * MB;

export interface DfsOptions {
  replication: number;
  blockBytes: number;
  chunkBytes: number;
}

export const kDfsDefaults: DfsOptions = {
  replication: 3,
  blockBytes: 64 * MB,
  chunkBytes: 1 * MB,
};

export const kClusterDefaults = {
  trackers: 3,
  // How long `cluster start` (and `run`) waits for its daemons to come up. A daemon that exits is
  // seen at once; this bounds only one that neither comes up nor exits, and on a loaded machine
  // (many daemons starting at once on 2 cores) the job tracker alone has needed over 30 s.
  startTimeoutMs: 90_000,
  rpcDeadlineMs: 15_000,
};

/** The state directory: `--home`, then BFTMR_HOME, then ~/.bftmr. */
export function resolveHome(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  return path.resolve(flag ?? env.BFTMR_HOME ?? path.join(os.homedir(), '.bftmr'));
}
