/**
 * The shapes of the gRPC messages in protos/, as @grpc/proto-loader delivers them
 * (keepCase, longs as numbers, defaults filled in). Message shapes only: no logic here.
 */
export interface Empty {}

export interface Location { tracker_id: string; address: string }
export interface BlockRef {
  digest: string; size: number; replicas: Location[];
  /** SHA-256 of the first head_size bytes, when the writer gave it ('' and 0 otherwise). */
  head_digest?: string; head_size?: number;
  /** The writer saw no '\n' in the block (false when it has one, or nobody said). */
  no_newline?: boolean;
}
export interface Counter { name: string; value: number }
export interface Conf { key: string; value: string }

export interface RegisterRequest {
  tracker_id: string; address: string; slots: number; cores?: number; pid: number; fault: string; blocks: BlockRef[];
  /** lib/build.ts's BUILD_ID; optional for callers that register through the core directly. */
  build?: string;
  /** The jobs it holds intermediate data of: those not running (any more) are dropped. */
  jobs?: string[];
  /** For each of `blocks`, how long ago it was stored; optional for callers that keep no ages. */
  block_ages_ms?: number[];
  /** Its own clock when it listed `blocks` (see DeleteBlocks); optional for callers that keep no ages. */
  clock_ms?: number;
}
export interface RegisterReply { tracker_id: string; heartbeat_interval_ms: number }

export interface AttemptReport {
  attempt_id: string;
  ok: boolean;
  error: string;
  digests: string[];
  sizes: number[];
  counters: Counter[];
  duration_ms: number;
  bad_source_tracker: string;
  bad_source_digest: string;
  local_read: boolean;
  /** Optional for callers that read no blocks (the simulator). */
  fetched_bytes?: number;
}

export interface HeartbeatRequest {
  tracker_id: string; free_slots: number; reports: AttemptReport[]; running: string[];
  /** The response_id of the last reply received; optional for old callers (0: none). */
  last_response_id?: number;
  /** Optional for callers that store no dfs blocks (the simulator). */
  replications?: ReplicationResult[];
  deleted_blocks?: string[];
  bad_blocks?: string[];
  bad_reads?: BadRead[];
  /** Now and then, every dfs block held (the periodic block report). */
  block_report?: HeldBlock[];
  /** Its own clock when it made the request (see DeleteBlocks). */
  clock_ms?: number;
}
export interface HeldBlock { digest: string; age_ms: number }
export interface WriteLease { id: string; started_ms_ago: number }
export interface WriteLeaseReply { lease_ms: number }
export interface AttemptLogRequest { job_id: string; attempt_id: string }
export interface AttemptLogReply { found: boolean; text: string }
export interface BadRead { digest: string; tracker_id: string }
export interface ReplicationResult { repair_id: number; digest: string; ok: boolean; error: string; bad_sources: string[] }

export interface JobCode { bundle: BlockRef; conf: Conf[]; num_reduces: number; start_ms: number; cache?: CacheFile[] }
/** A dfs file every task of a job may read (ctx.cacheFile). */
export interface CacheFile { path: string; size: number; blocks: BlockRef[] }
export interface FileBlock { block: BlockRef; offset: number }

export interface LaunchMap {
  attempt_id: string;
  job_id: string;
  code: JobCode;
  map_index: number;
  path: string;
  offset: number;
  length: number;
  file_size: number;
  blocks: FileBlock[];
  num_reduces: number;
}

export interface MapSource { map_index: number; digest: string; size: number; location: Location }

export interface LaunchReduce {
  attempt_id: string; job_id: string; code: JobCode; partition: number; sources: MapSource[];
}

export type TaskAction =
  | { launch_map: LaunchMap }
  | { launch_reduce: LaunchReduce }
  | { kill_attempt: string }
  | { drop_job: DropJob }
  | { replicate_block: ReplicateBlock }
  | { delete_blocks: DeleteBlocks };
export interface DropJob { job_id: string; keep: string[] }
export interface ReplicateBlock { repair_id: number; digest: string; size: number; sources: Location[] }
/**
 * `unless_stored_after_ms`: for copies a block report (or registration) showed, the tracker's
 * clock_ms of that request (0 or absent: no condition); a block stored (again) after it is kept: it may be a new write's.
 */
export interface DeleteBlocks { digests: string[]; unless_stored_after_ms?: number }

export interface HeartbeatReply { actions: (TaskAction & { action?: string })[]; reregister: boolean; response_id?: number; heartbeat_interval_ms?: number }

export interface TrackerInfo {
  tracker_id: string; address: string; pid: number; alive: boolean; fault: string; blacklisted: boolean;
  slots: number; running: number; last_heartbeat_ms_ago: number; verdicts: string[];
  /** Set by the job tracker's status (ClusterStatus), not by its own views. */
  blocks?: number; stored_bytes?: number;
  /** Being decommissioned, and how many of its blocks still lack copies elsewhere (0: it may stop). */
  decommissioning?: boolean; decommission_left?: number;
  /** Of its blocks, how many want more copies than the other trackers in service can hold. */
  decommission_stuck?: number;
}
export interface DecommissionRequest { tracker_id: string; on: boolean }
export interface BalanceRequest { action: 'STATUS' | 'START' | 'STOP'; threshold_percent: number }
export interface BalanceReply {
  active: boolean; threshold_percent: number; moved_blocks: number; moved_bytes: number; failed_moves: number;
  moving: number; outcome: string; spread_bytes: number; allowed_bytes: number; trackers: number;
}
export interface ClusterStatusReply { address: string; pid: number; trackers: TrackerInfo[]; running_jobs: number }

export interface SubmitJobRequest {
  bundle_path: string; bundle_digest: string; inputs: string[]; output: string; f: number;
  num_reduces: number; split_bytes: number; conf: Conf[]; name: string;
  cache_files?: string[];
}
export interface SubmitJobReply { job_id: string }
export interface JobId { job_id: string }
export interface GetJobRequest { job_id: string; wait_ms?: number }
export interface Verdict { tracker_id: string; reason: string }

export interface JobStatus {
  job_id: string; name: string; state: 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'KILLED' | ''; error: string; error_code: string;
  maps_total: number; maps_decided: number; maps_reported: number;
  reduces_total: number; reduces_decided: number; reduces_reported: number;
  map_attempts: number; reduce_attempts: number; votes_decided: number; reduce_reruns: number;
  local_map_reads: number; map_fetched_bytes: number; output: string; elapsed_ms: number; f: number; counters: Counter[]; verdicts: Verdict[];
  /** The job that runs this one again (it was running when the job tracker stopped); '' if none. */
  rerun_as: string;
  /** The job this one runs again; '' if none. */
  rerun_of: string;
}
export interface ListJobsReply { jobs: JobStatus[] }
export type AttemptOutcome = 'running' | 'reported' | 'agreed' | 'outvoted' | 'failed' | 'stale';
export interface AttemptInfo {
  attempt_id: string; kind: 'map' | 'reduce'; task: number; tracker_id: string; outcome: AttemptOutcome;
  start_ms: number; end_ms: number; local_read: boolean; error: string; fetched_bytes: number;
}
export interface ListAttemptsReply { attempts: AttemptInfo[] }

export interface AllocateBlockRequest { replication: number; exclude: string[] }
export interface AllocateBlockReply { targets: Location[] }
export interface RenameRequest { src: string; dst: string }
export interface SetReplicationRequest { path: string; replication: number }
export interface SetReplicationReply { files_changed: number }
export interface RenameReply { path: string; files_moved: number }
export interface CreateFileRequest { path: string; blocks: BlockRef[]; replication: number; overwrite: boolean; lease_id?: string }
export interface PathRequest { path: string; recursive: boolean }
export interface FileInfo {
  path: string; size: number; blocks: BlockRef[]; replication: number; created_ms: number; is_dir: boolean;
}
export interface ListReply { entries: FileInfo[] }
export interface DeleteRequest { path: string; recursive: boolean }
export interface DeleteReply { files_deleted: number }
export interface BadReplicaReport { path: string; digest: string; tracker_id: string; error: string; writer?: boolean; puller?: string }
export type BlockHealthState = 'HEALTHY' | 'UNDER_REPLICATED' | 'CORRUPT' | 'MISSING';
export interface FsckBlock {
  index: number; digest: string; size: number; live: string[]; dead: string[]; bad: string[]; repairing: number;
  state: BlockHealthState; wanted: number;
}
export interface FsckFile { path: string; replication: number; blocks: FsckBlock[] }
export interface FsckReply { files: FsckFile[] }

export interface BlockChunk { data: Uint8Array; xxh32: number; digest: string; last: boolean }
export interface WriteBlockReply { digest: string; size: number; mac?: Uint8Array }
export interface PullBlockRequest { digest: string; size: number; sources: Location[]; nonce?: Uint8Array }
export interface BadSource { tracker_id: string; error: string }
export interface PullBlockReply { digest: string; size: number; bad_sources: BadSource[]; error: string; mac?: Uint8Array }
export interface AdoptBlockRequest { digest: string; size: number; path: string; offset: number; nonce?: Uint8Array }
export interface AdoptBlockProgress { read: number; stored?: WriteBlockReply | null }
export interface ReadBlockRequest { digest: string; offset: number; length: number }
export interface LocateBlockRequest { digest: string }
export interface LocateBlockReply { path: string; size: number }
export interface ProveBlockRequest { digest: string; nonce: Uint8Array }
export interface ProveBlockReply { mac: Uint8Array }
