/**
 * The simulator's safety and liveness properties, and the commit check, pure so that a test can
 * feed it a fabricated commit.
 */
import type { OutputFile } from '../jobtracker/core/types.ts';
import type { ExpectedFile } from './reference.ts';

export type Property =
  | 'core-invariant'           // the core threw: an invariant of its own broke
  | 'commit-output'            // a commit's files differ from the fault-free reference
  | 'commit-replicas'          // a committed file has fewer than f+1 distinct trackers as replicas
  | 'commit-replica-data'      // a replica does not hold the committed digest
  | 'commit-twice'             // two commit effects for one job
  | 'commit-after-kill'        // a job was committed after the core accepted its kill
  | 'launch-after-kill'        // an attempt was launched for a job after the core accepted its kill
  | 'succeeded-without-commit' // a job is SUCCEEDED though its commit was never applied
  | 'verdict-against-truthful' // a verdict names a tracker that never reported a wrong digest nor served bad bytes
  | 'double-vote'              // a tracker was given a second attempt at a task it still has a vote on
  | 'verdict-forgotten'        // a tracker registered again with fewer verdicts than were reached against it (a restart forgot them)
  | 'drop-committed-output'    // a drop_job took a copy the core lists on that tracker (a committed output's, say)
  | 'dfs-delete-listed'        // a tracker was told to delete a dfs block the core still lists there
  | 'dfs-delete-last-copy'     // an honest tracker was told to delete the last good copy of a block a file needs
  | 'dfs-listed-not-held'      // the core lists a replica on an up, honest tracker that does not hold the block
  | 'dfs-write-lost'           // an honest tracker was made to delete a block of a put still running, which then lists it
  | 'dfs-under-replicated'     // liveness: a block has fewer listed usable copies than wanted (and usable trackers allow)
  | 'dfs-bad-copy-listed'      // liveness: a copy a read found bad (and the core then checked) is still listed
  | 'dfs-lost'                 // liveness: no listed copy of a block is good (f+1 copies were put: one was honest)
  | 'dfs-garbage'              // liveness: an up tracker still holds a block of a removed file, or of a put whose client died
  | 'balance-stuck'            // liveness: a balancing run did not end (balanced, or unable to go on)
  | 'job-failed'               // liveness: a job failed though at most f trackers were faulty
  | 'job-stuck'                // liveness: a job did not finish in the simulated time
  | 'job-data-left'            // liveness: an up tracker still holds intermediate data of a job that is over
  | 'hung-not-named'           // liveness: a hung tracker held attempts past every deadline and has no verdict
  | 'sim-limit';               // the run exceeded the simulator's event bound

export interface Violation {
  kind: 'safety' | 'liveness';
  property: Property;
  detail: string;
  atMs: number;
}

export interface CommitLike {
  jobId: string;
  files: OutputFile[];
}

/**
 * The commit check, pure so a test can feed it a fabricated commit: the files must be exactly the
 * reference, each stored by at least f+1 distinct trackers that do hold its digest.
 */
export function commitProblems(
  commit: CommitLike, expected: readonly ExpectedFile[], f: number, holds?: (trackerId: string, digest: string) => boolean,
): { property: Property; detail: string }[] {
  const problems: { property: Property; detail: string }[] = [];
  const got = commit.files.map((x) => `${x.path}=${x.digest.slice(0, 12)}/${x.size}`).join(' ');
  const want = expected.map((x) => `${x.path}=${x.digest.slice(0, 12)}/${x.size}`).join(' ');
  if (got !== want) problems.push({ property: 'commit-output', detail: `${commit.jobId} committed [${got}], the reference is [${want}]` });
  for (const file of commit.files) {
    const distinct = new Set(file.replicas.map((r) => r.tracker_id));
    if (distinct.size < f + 1 || distinct.size !== file.replicas.length) {
      problems.push({
        property: 'commit-replicas',
        detail: `${commit.jobId} ${file.path} has replicas [${file.replicas.map((r) => r.tracker_id).join(',')}], needs f+1=${f + 1} distinct`,
      });
    }
    for (const r of distinct) {
      if (holds && !holds(r, file.digest)) {
        problems.push({ property: 'commit-replica-data', detail: `${commit.jobId} ${file.path}: replica ${r} does not hold ${file.digest.slice(0, 12)}` });
      }
    }
  }
  return problems;
}
