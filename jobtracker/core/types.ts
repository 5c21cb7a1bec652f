/** Shapes the job tracker core takes and returns. Plain data: no I/O, no clocks. */
import type { BlockRef, CacheFile, Conf, FileBlock, JobStatus, Location } from '../../lib/messages.ts';
import type { ReplicationOptions } from './replication.ts';

/** One map task's input: the byte range [offset, offset+length) of a dfs file. */
export interface SplitSpec {
  path: string;
  offset: number;
  length: number;
  fileSize: number;
  /** The blocks its lines start in, and the next one (where its last line may end). */
  blocks: FileBlock[];
  /** Trackers holding the split's first block: map attempts prefer them. */
  hosts: string[];
}

export interface JobSpec {
  name: string;
  bundle: BlockRef;
  conf: Conf[];
  f: number;
  numReduces: number;
  output: string;
  splits: SplitSpec[];
  /** The job this one runs again (it was running when the job tracker stopped). */
  rerunOf?: string;
  /** dfs files every task may read (ctx.cacheFile): fetched and verified like the job's code. */
  cache?: CacheFile[];
}

export interface OutputFile {
  path: string;
  digest: string;
  size: number;
  replicas: Location[];
}

/** Things the core asks its adapter to do (the tracker-bound actions go out with heartbeats). */
export type Effect =
  | { type: 'commit'; jobId: string; output: string; files: OutputFile[] }
  /**
   * A reducer says this tracker served bytes not matching `digest`: fetch them and see (auditResult).
   * With an empty `jobId` it is a dfs block: one a reader or a repair accused, or a routine audit;
   * `unlisted`: a copy no file lists, which a writer did not keep (deleted unless it is good);
   * `routine`: no one accused the copy, so a proof of possession will do. An accused copy is
   * fetched as readers fetch it: a tracker may answer challenges from the true bytes and still
   * serve readers others.
   */
  | { type: 'audit'; jobId: string; task: string; trackerId: string; address: string; digest: string; unlisted?: boolean; routine?: boolean }
  /** A job was accepted, or is over: keep its record, so `job status` outlives a restart. */
  | { type: 'job'; status: JobStatus }
  /** A finished job is forgotten (job history is bounded): its record goes. */
  | { type: 'forget'; jobId: string }
  /** The replica lists of these dfs blocks changed: persist them in the namespace. */
  | { type: 'replicas'; changes: { digest: string; replicas: string[] }[] }
  /**
   * A job the last run of the job tracker left running is to run again, as a new job (new ids: the
   * trackers may still know its old attempts); the trackers holding the dfs are back. The adapter
   * submits it as it was submitted and says how that went (rerunSubmitted / rerunFailed).
   */
  | { type: 'rerun'; jobId: string }
  /** A tracker was proven faulty: keep it, so that a restarted job tracker does not trust it again (restoreVerdicts). */
  | { type: 'verdict'; trackerId: string; reason: string }
  /** The operator took a tracker out of service (on) or back: keep it (restoreDecommissions). */
  | { type: 'decommission'; trackerId: string; on: boolean }
  | { type: 'log'; message: string };

export interface CoreOptions {
  /** How often trackers heartbeat, at least; longer on a big cluster (see heartbeatsPerSec). */
  heartbeatIntervalMs: number;
  /** A tracker is dead after this long without a heartbeat (stretched as the interval is: see jobtracker_core.ts expiryMs). */
  trackerExpiryMs: number;
  /**
   * The periodic heartbeats the job tracker takes per second, at most: with more trackers than
   * this times the interval in seconds, the interval grows (as Hadoop's JobTracker does). Trackers
   * also heartbeat whenever an attempt ends.
   */
  heartbeatsPerSec?: number;
  /**
   * A reduce launch lists every map's output (about 150 bytes each). One heartbeat reply carries
   * reduce launches listing at most this many outputs in all (but always one launch), so that it
   * stays well inside gRPC's 64 MB message limit; the rest go with later replies.
   */
  maxSourcesPerReply?: number;
  blacklistAfterVerdicts: number;
  /**
   * An attempt is late when it has run longer than `lateFactor` times what the median time per
   * byte of input of its task's finished siblings (same job, same kind) gives for its own input,
   * and at least `lateFloorMs`. Before any sibling finishes, nothing is judged late.
   * (job_in_progress.ts `lateness`)
   */
  lateFactor?: number;
  lateFloorMs?: number;
  /**
   * The hard deadline, far past lateness: `deadlineFactor` times the slowest agreeing attempt of
   * its own task once that is decided, before that the pace of the decided sibling tasks (their
   * slowest agreeing attempts: median duration, or median time per byte times this attempt's
   * input, whichever is longer), and at least `deadlineFloorMs`; none before a task of the kind is
   * decided. A tracker that still lists an attempt as running past it, while it heartbeats
   * (so the network is not to blame), missed it: a verdict. (job_in_progress.ts `stillRunning`)
   */
  deadlineFactor?: number;
  deadlineFloorMs?: number;
  /**
   * How long a tracker with a free slot waits, at least, before it takes a fresh map by itself
   * when the map's f+1 attempts cannot all start now: this, or a quarter of the job's median map
   * time if that is longer; 0: no wait (job_in_progress.ts assign).
   */
  pairWaitMs?: number;
  /** Finished jobs kept, at most (default kJobHistory): the oldest are forgotten, records and all. */
  jobHistory?: number;
  /** One audit of a random dfs replica per interval (0: none); see replication.ts. */
  dfsAuditIntervalMs?: number;
  /** A put's lease lapses after this long without renewal (replication.ts writeLeaseMs). */
  writeLeaseMs?: number;
  /** Overrides of the replication monitor's defaults (tests). */
  replication?: Partial<ReplicationOptions>;
}

export const kLateDefaults = { lateFactor: 2, lateFloorMs: 2_000, deadlineFactor: 10, deadlineFloorMs: 30_000, pairWaitMs: 2_000, heartbeatsPerSec: 200, maxSourcesPerReply: 100_000 };
