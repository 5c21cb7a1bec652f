/**
 * A simulated task tracker's state: what the real one (tasktracker/server.ts) keeps that matters to
 * the core (reports not yet acknowledged, attempts started and running, the blocks it holds) and
 * its storage faults. The Simulation drives it.
 */
import type { AttemptReport, LaunchMap, LaunchReduce, ReplicationResult } from '../lib/messages.ts';
import type { TrackerPlan } from './scenario.ts';

/** The owner of a block that is a dfs file's (a job's blocks are owned by the job's id). */
export const DFS = 'dfs';

export interface RunningAttempt {
  launch: LaunchMap | LaunchReduce;
  /** Reduce attempts: the input digests it verified, once it fetched them. */
  inputs?: string[];
}

export class SimTracker {
  /** Given by the core at registration. */
  id = '';
  up = true;
  registering = false;
  /** Reports not yet acknowledged by a heartbeat reply (the in-flight ones are in `inflight`). */
  queue: AttemptReport[] = [];
  /** Repairs done and blocks deleted, not yet acknowledged either. */
  repairsDone: ReplicationResult[] = [];
  deleted: string[] = [];
  inflight?: { n: number; reports: AttemptReport[]; repairsDone: ReplicationResult[]; deleted: string[]; blockReport?: boolean };
  heartbeats = 0;
  again = false;
  /** The response_id of the last heartbeat reply received, echoed in the next heartbeat. */
  lastResponseId = 0;
  /** Attempts started, so a launch replayed after a lost reply is not run twice. */
  readonly started = new Set<string>();
  readonly running = new Map<string, RunningAttempt>();
  /** The block store: digest -> owners (job ids, or 'dfs' for committed outputs). */
  readonly store = new Map<string, Set<string>>();
  /** When each block held was last stored or given an owner (the real store's storedMs). */
  readonly storedAt = new Map<string, number>();
  /** When its next periodic block report goes with a heartbeat. */
  nextBlockReportMs = 0;
  /** Reads served, for equivocation on every other one. */
  reads = 0;
  /** drop-blocks: dfs blocks whose bytes are gone though the store still claims them. */
  readonly dropped = new Set<string>();
  /** corrupt-blocks, drop-blocks: lying about its dfs blocks now. */
  lying = false;
  /** Repairs started, so one replayed after a lost reply is not run twice. */
  readonly repairs = new Set<number>();
  /** Jobs dropped here (drop_job): their attempts stop, and a replayed launch of one is ignored. */
  readonly droppedJobs = new Set<string>();

  constructor(readonly index: number, readonly plan: TrackerPlan) {}

  get name(): string {
    return `t${this.index}`;
  }

  /** Its own clock at simulated time `now`: days off the job tracker's (the core never compares them). */
  clock(now: number): number {
    return now + (this.index + 1) * 86_400_000;
  }

  hold(digest: string, owner: string, now: number): void {
    const owners = this.store.get(digest);
    if (owners) owners.add(owner);
    else this.store.set(digest, new Set([owner]));
    this.storedAt.set(digest, now);
    if (owner === DFS && this.lying && this.plan.mode === 'drop-blocks') this.dropped.add(digest);
  }

  /** As the real store's addOwner (no fault sees it): a block held gains an owner and counts as stored now. */
  addOwner(digest: string, owner: string, now: number): void {
    const owners = this.store.get(digest);
    if (!owners) return;
    owners.add(owner);
    this.storedAt.set(digest, now);
  }

  /** Whether it holds the true bytes of a dfs block (whatever it serves). */
  goodCopy(digest: string): boolean {
    return this.up && this.store.has(digest) && !this.dropped.has(digest) && !(this.lying && this.plan.mode === 'corrupt-blocks');
  }

  /** Whether it deals honestly with the dfs blocks it holds: a copy it has is served as it is. */
  get storageHonest(): boolean {
    return !['corrupt-blocks', 'drop-blocks', 'serve-corrupt', 'equivocate'].includes(this.plan.mode);
  }
}
