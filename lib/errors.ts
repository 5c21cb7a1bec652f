/**
 * Errors with stable codes. The code is the contract (tests and callers match on it);
 * the message is one sentence for a person.
 */
export type ErrorCode =
  | 'BFT_NO_QUORUM'            // 2f+1 attempts ran and no f+1 agreed
  | 'BFT_TOO_FEW_TRACKERS'     // fewer than 2f+1 live trackers
  | 'BFT_TASK_FAILED'          // f+1 trackers failed the same task
  | 'BFT_NON_DETERMINISTIC'
  | 'DFS_NOT_FOUND'
  | 'DFS_EXISTS'
  | 'DFS_BAD_PATH'
  | 'DFS_NOT_EMPTY'
  | 'DFS_DIGEST_MISMATCH'
  | 'DFS_NO_REPLICA'
  | 'DFS_TOO_FEW_NODES'
  | 'DFS_LEASE_LAPSED'         // a put's client did not renew its lease in time: its blocks may be gone
  | 'JOB_BAD_MODULE'
  | 'JOB_CODE_GONE'             // the stored job code a submit named was deleted (its last job ended): store it again
  | 'JOB_NOT_FOUND'
  | 'JOB_NOT_RUNNING'          // a kill of a job that is over, or committing its output
  | 'JOB_KILLED'               // the error code of a killed job
  | 'JOB_INTERRUPTED'          // the job tracker stopped while the job ran
  | 'JOB_BAD_ARGUMENT'
  | 'CLUSTER_NOT_RUNNING'
  | 'CLUSTER_RUNNING'
  | 'CLUSTER_START_FAILED'
  | 'CLUSTER_BUILD_MISMATCH'   // a tracker of another build tried to join
  | 'AUTH_NO_CREDENTIALS'      // this process has no certificate of the cluster
  | 'AUTH_DENIED'              // the peer's certificate does not allow this call
  | 'BAD_REQUEST'              // a peer sent a malformed request
  | 'LOCAL_IO'
  | 'INTERRUPTED'              // the user interrupted the command (Ctrl-C): exit status 130
  | 'UNAVAILABLE'
  | 'INTERNAL';

export class BftmrError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'BftmrError';
  }
}

export function isBftmrError(e: unknown, code?: ErrorCode): e is BftmrError {
  return e instanceof BftmrError && (code === undefined || e.code === code);
}

/** An invariant of the protocol was broken: a bug, never an expected event. */
export function invariant(cond: unknown, why: string): asserts cond {
  if (!cond) throw new Error(`invariant violated: ${why}`);
}

export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

const ERRNO_WORDS: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'not permitted',
  EISDIR: 'it is a directory',
  ENOTDIR: 'a part of the path is not a directory',
  EEXIST: 'it already exists',
  ENOSPC: 'no space left on the device',
  EROFS: 'the file system is read-only',
  EMFILE: 'too many open files',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'the name is too long',
  EIO: 'an input/output error',
  EDQUOT: 'the disk quota is exceeded',
};

/** A local file system error in words ("no such file or directory"), not its code. */
export function ioReason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return (code && ERRNO_WORDS[code]) ?? code ?? messageOf(e);
}
