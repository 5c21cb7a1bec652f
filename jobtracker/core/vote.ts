/**
 * The quorum rule, in one place: a task is decided when f+1 attempts on distinct trackers report
 * the same value (a map's digest vector, a reduce's output digest). With at most f faulty
 * trackers, f+1 matching reports include at least one honest tracker, so the value is correct.
 */
import { invariant } from '../../lib/errors.ts';

export interface Vote {
  trackerId: string;
  value: string;
}

export interface Tally {
  /** The value f+1 distinct trackers reported, if any. */
  decided?: string;
  /** Trackers that reported the decided value (empty when undecided). */
  agreeing: string[];
  /** The largest number of distinct trackers that agree on any one value. */
  maxAgreement: number;
  /** Distinct values reported. */
  values: number;
}

export function quorum(f: number): number {
  return f + 1;
}

/** Most attempts a task may need before we know more than f trackers are faulty. */
export function maxVotes(f: number): number {
  return 2 * f + 1;
}

export function tally(votes: readonly Vote[], f: number): Tally {
  const byValue = new Map<string, string[]>();
  const seen = new Set<string>();
  for (const v of votes) {
    // Each tracker votes at most once per task; a second vote is a bug in the caller.
    invariant(!seen.has(v.trackerId), `tracker ${v.trackerId} voted twice on one task`);
    seen.add(v.trackerId);
    const list = byValue.get(v.value);
    if (list) list.push(v.trackerId);
    else byValue.set(v.value, [v.trackerId]);
  }
  let maxAgreement = 0;
  let decided: string | undefined;
  let agreeing: string[] = [];
  for (const [value, trackers] of byValue) {
    if (trackers.length > maxAgreement) maxAgreement = trackers.length;
    if (trackers.length >= quorum(f)) {
      // Two values with f+1 votes each take more than f liars; the task keeps the decision it
      // recorded when quorum was first reached (TaskInProgress.tryDecide), so this is moot there.
      if (decided === undefined) { decided = value; agreeing = trackers; }
    }
  }
  return { decided, agreeing, maxAgreement, values: byValue.size };
}

/**
 * Which trackers may be faulty, given disputes: sets of trackers whose reports on one task
 * disagree, so that each holds at least one faulty tracker. With at most f faulty, the faulty
 * ones form a set of at most f trackers meeting every dispute; a tracker in no such set is
 * certainly honest. (Two disputes of a liar with two different honest trackers, f=1: only the
 * liar is in both.) When no such set exists more than f are faulty, and every disputant is
 * suspect.
 */
export function possiblyFaulty(disputes: readonly (readonly string[])[], f: number): Set<string> {
  const all = new Set(disputes.flat());
  /** Whether `left` can all be met by at most `k` trackers. */
  const coverable = (left: readonly (readonly string[])[], k: number): boolean => {
    if (left.length === 0) return true;
    if (k === 0) return false;
    // Some tracker of the first dispute is faulty: try each.
    return left[0]!.some((id) => coverable(left.filter((d) => !d.includes(id)), k - 1));
  };
  const maybe = [...all].filter((id) => coverable(disputes.filter((d) => !d.includes(id)), f - 1));
  return maybe.length > 0 ? new Set(maybe) : all;
}
