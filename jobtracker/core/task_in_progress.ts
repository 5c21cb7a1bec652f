/**
 * One map or reduce task and its attempts (Hadoop's TaskInProgress). An attempt id is never
 * recycled. The task decides by the quorum rule in vote.ts; this class only keeps the facts.
 */
import { invariant } from '../../lib/errors.ts';
import { maxVotes, quorum, tally, type Vote } from './vote.ts';

export type TaskKind = 'map' | 'reduce';

export type AttemptState =
  | 'running'
  | 'succeeded'
  | 'failed'     // the attempt reported an error, or its tracker died
  | 'stale';     // a reduce attempt that used a map output the vote went against: discarded

/** Which map output a reduce attempt was told to fetch, per map index. */
export interface SourceUse {
  attemptId: string;
  trackerId: string;
  digest: string;
}

export interface Attempt {
  readonly id: string;
  readonly trackerId: string;
  readonly startMs: number;
  /** Bytes it reads (a map's split; for a reduce, an equal share of the job's input): lateness is judged per byte. */
  readonly inputBytes: number;
  /**
   * How long other nodes may hold it up while it reads its inputs from them (lib/source_pace.ts):
   * added to its deadline, so a slow source cannot get an honest reader named.
   */
  readonly allowanceMs: number;
  state: AttemptState;
  endMs?: number;
  /** Map: one digest per partition. Reduce: one. */
  digests?: string[];
  sizes?: number[];
  counters?: Record<string, number>;
  error?: string;
  localRead?: boolean;
  /** Input bytes the attempt fetched from other trackers, as its tracker reports. */
  fetchedBytes?: number;
  /** Reduce attempts: the sources they were told to use, indexed by map. */
  sources?: SourceUse[];
  /** Failure not of this tracker's making (a source served bad bytes): it may try again. */
  notItsFault?: boolean;
  /** It ran past its hard deadline and the tracker has a verdict for it (once). */
  missedDeadline?: boolean;
  /** When its tracker first listed it as running: the deadline counts from there (a launch can be delayed by a lost reply). */
  seenRunningMs?: number;
  /** Its tracker reported it (success or failure). */
  reported?: boolean;
}

export function voteValue(digests: readonly string[]): string {
  return digests.join(',');
}

export class TaskInProgress {
  readonly attempts: Attempt[] = [];
  decided?: { value: string; digests: string[]; sizes: number[]; agreeing: Attempt[] };
  #nextAttempt = 0;

  constructor(
    readonly jobId: string,
    readonly kind: TaskKind,
    readonly index: number,
    readonly f: number,
  ) {}

  get name(): string {
    return `${this.kind} task ${this.index}`;
  }

  newAttemptId(): string {
    const n = this.#nextAttempt++;
    return `attempt_${this.jobId}_${this.kind === 'map' ? 'm' : 'r'}_${String(this.index).padStart(6, '0')}_${n}`;
  }

  running(): Attempt[] {
    return this.attempts.filter((a) => a.state === 'running');
  }

  succeeded(): Attempt[] {
    return this.attempts.filter((a) => a.state === 'succeeded');
  }

  votes(): Vote[] {
    return this.succeeded().map((a) => ({ trackerId: a.trackerId, value: voteValue(a.digests!) }));
  }

  /** Trackers that already ran (or run) this task and count against it. */
  usedTrackers(): Set<string> {
    return new Set(
      this.attempts.filter((a) => a.state !== 'stale' && !(a.state === 'failed' && a.notItsFault)).map((a) => a.trackerId),
    );
  }

  /** Distinct trackers on which an attempt failed through its own fault. */
  failedTrackers(): string[] {
    return [...new Set(this.attempts.filter((a) => a.state === 'failed' && !a.notItsFault).map((a) => a.trackerId))];
  }

  /**
   * How many more attempts should start now: enough running ones that, if they all agree with the
   * best value so far, the task reaches f+1; never beyond 2f+1 votes. A late attempt is not waited
   * for: another attempt starts beside it (if the late one reports after all, its vote still counts).
   */
  attemptsWanted(isLate: (a: Attempt) => boolean = () => false, distrusted: (trackerId: string) => boolean = () => false): number {
    if (this.decided) return 0;
    // A tracker proven faulty in this job is not counted on to help reach f+1: its vote and its
    // running attempt are treated like a late one (its vote still counts if it agrees after all).
    const t = tally(this.votes().filter((v) => !distrusted(v.trackerId)), this.f);
    const running = this.running();
    const timely = running.filter((a) => !isLate(a) && !distrusted(a.trackerId)).length;
    const votes = this.succeeded().length;
    const need = quorum(this.f) - t.maxAgreement - timely;
    const room = maxVotes(this.f) - votes - timely;
    return Math.max(0, Math.min(need, room));
  }

  /** Records a decision if the votes reach quorum. Returns true when this call decided it. */
  tryDecide(): boolean {
    if (this.decided) return false;
    const t = tally(this.votes(), this.f);
    if (t.decided === undefined) return false;
    const agreeing = this.succeeded().filter((a) => voteValue(a.digests!) === t.decided);
    invariant(agreeing.length >= quorum(this.f), 'decision without a quorum');
    const first = agreeing[0]!;
    this.decided = { value: t.decided, digests: first.digests!, sizes: first.sizes!, agreeing };
    return true;
  }

  /** 2f+1 votes and no f+1 of them agree: more than f trackers are faulty. */
  hopeless(): boolean {
    return !this.decided && this.succeeded().length >= maxVotes(this.f) && this.running().length === 0;
  }

  /** Succeeded attempts that lost the vote. */
  losers(): Attempt[] {
    if (!this.decided) return [];
    return this.succeeded().filter((a) => voteValue(a.digests!) !== this.decided!.value);
  }

  attempt(id: string): Attempt | undefined {
    return this.attempts.find((a) => a.id === id);
  }
}
