/**
 * One job's progress (Hadoop's JobInProgress): its map and reduce tasks, the votes on them,
 * tentative reduces, and what it concludes about trackers. Pure: time and tracker liveness come
 * in through `JobContext`; launches, kills and verdicts go out through it.
 */
import { SlotPlan, type HostShares } from './host_share.ts';
import type { AttemptInfo, AttemptOutcome, AttemptReport, BlockRef, JobCode, JobStatus, Location, MapSource, TaskAction, Verdict } from '../../lib/messages.ts';
import { sourceAllowanceMs } from '../../lib/source_pace.ts';
import { shortDigest } from '../../lib/digest.ts';
import { TaskInProgress, voteValue, type Attempt, type SourceUse, type TaskKind } from './task_in_progress.ts';
import { possiblyFaulty } from './vote.ts';
import { SortedNumbers } from '../../lib/sorted_numbers.ts';
import type { JobSpec, OutputFile } from './types.ts';

export type JobState = 'RUNNING' | 'COMMITTING' | 'SUCCEEDED' | 'FAILED' | 'KILLED';

export interface JobContext {
  now: number;
  lateFactor: number;
  lateFloorMs: number;
  deadlineFactor: number;
  deadlineFloorMs: number;
  /** How long a free slot waits before it takes a fresh map alone (CoreOptions.pairWaitMs). */
  pairWaitMs: number;
  /** Address of a live, trusted-enough tracker; undefined when it is dead or blacklisted. */
  liveAddress(trackerId: string): string | undefined;
  kill(trackerId: string, attemptId: string): void;
  verdict(trackerId: string, reason: string): void;
  /** Whether the tracker has ever been proven faulty (any verdict, any job). */
  proven(trackerId: string): boolean;
  /** Asks the trusted side to check, itself, what `trackerId` serves as block `digest`. */
  audit(jobId: string, task: string, trackerId: string, digest: string): void;
  commit(jobId: string, output: string, files: OutputFile[]): void;
  /**
   * Free slots of every usable tracker, as far as the job tracker knows (as it last reported them,
   * less what it was sent since), within its share of its host's cores; and the room left on hosts
   * that trackers share (host_share.ts).
   */
  freeSlots(): FreeSlots;
  /** Map outputs the reduce launches of this heartbeat's reply may still list (CoreOptions.maxSourcesPerReply); spent by assign. */
  sourceBudget: { left: number; launches: number };
}

type FreeSlots = Pick<HostShares, 'free'> & Partial<HostShares>;

/**
 * What an attempt's duration is judged against: its input bytes, counted as at least 1 MB, so
 * tasks too small for their fixed costs (starting, loading the job) to be negligible are judged
 * like 1 MB ones.
 */
const MIN_WEIGHT = 1024 * 1024;
function weight(a: Attempt): number {
  return Math.max(a.inputBytes, MIN_WEIGHT);
}

/** The median of `xs` (the upper one of an even count); sorts `xs`. */
function median(xs: number[]): number | undefined {
  return xs.sort((x, y) => x - y)[Math.floor(xs.length / 2)];
}

/** How long a finished attempt took. */
function took(a: Attempt): number {
  return a.endMs! - a.startMs;
}

/** How long a finished attempt took per weighed byte. */
function rate(a: Attempt): number {
  return took(a) / weight(a);
}

interface Figures {
  /** Median time per weighed byte of finished attempts, per kind (lateness). */
  rate: Record<TaskKind, number | undefined>;
  /** What hard deadlines are judged against, per kind (see #deadlinePace). */
  pace: Record<TaskKind, { duration: number; rate: number } | undefined>;
  /** Median duration of finished map attempts (the pair wait); 0 before any. */
  mapsTook: number;
}

export class JobInProgress {
  state: JobState = 'RUNNING';
  error = '';
  errorCode = '';
  finishMs?: number;
  readonly maps: TaskInProgress[];
  readonly reduces: TaskInProgress[];
  readonly verdicts: Verdict[] = [];
  reduceReruns = 0;
  readonly #byAttempt = new Map<string, TaskInProgress>();
  /**
   * Per reduce task: `reducerTracker|sourceTracker` pairs: sources a reducer said served it bad
   * bytes, which it is not sent to again. A claim is only the claimant's word (it may be the
   * liar), so it steers only the claimant's own later attempts and proves nothing against the
   * source.
   */
  readonly #badSources: Set<string>[];
  readonly code: JobCode;

  // What the scheduler needs at every heartbeat, kept as things change rather than found by going
  // over every task each time (a job may have tens of thousands of maps, and each of a hundred
  // trackers heartbeats several times a second).
  /** Medians over the job's finished attempts; recomputed after a report (see #figures). */
  #figuresCache?: Figures;
  /** The map side of the figures, kept as map attempts finish (a finished map attempt never changes). */
  readonly #mapFigures = { rate: new SortedNumbers(), took: new SortedNumbers(), slowestTook: new SortedNumbers(), slowestRate: new SortedNumbers() };
  /** Per decided map, its slowest agreeing attempt (see #deadlinePace). */
  readonly #slowestAgreeing = new Map<TaskInProgress, Attempt>();
  #decidedMaps = 0;
  /** Maps with a successful attempt (that stays so: map attempts never go stale). */
  readonly #reportedMaps = new Set<TaskInProgress>();
  /** Maps with an attempt and no decision yet. The others are fresh (no attempt) or decided. */
  readonly #openMaps = new Set<TaskInProgress>();
  /** Per tracker, the maps whose split it holds, in index order; #fresh walks them. */
  readonly #localMaps = new Map<string, number[]>();
  /** Where in #localMaps (per tracker) and in `maps` the fresh maps start: everything before has an attempt. */
  readonly #localFrom = new Map<string, number>();
  #freshFrom = 0;
  /** See #lostOutputs: the maps, and the usable trackers they were found for. */
  #lost?: { key: string; maps: Set<TaskInProgress> };
  /** The most attempts any task has had (see checkStuck). */
  #mostAttempts = 0;
  /** Per tracker, how many of the job's map attempts it was given (#planMaps spreads them). */
  readonly #mapsOn = new Map<string, number>();
  /** Per tracker, how many of the job's reduce attempts it was given (#planReduces spreads them). */
  readonly #reducesOn = new Map<string, number>();

  constructor(
    readonly id: string,
    readonly spec: JobSpec,
    readonly submitMs: number,
  ) {
    this.maps = spec.splits.map((_, i) => new TaskInProgress(id, 'map', i, spec.f));
    this.reduces = Array.from({ length: spec.numReduces }, (_, i) => new TaskInProgress(id, 'reduce', i, spec.f));
    this.#badSources = this.reduces.map(() => new Set());
    this.code = { bundle: spec.bundle, conf: spec.conf, num_reduces: spec.numReduces, start_ms: submitMs, ...(spec.cache?.length ? { cache: spec.cache } : {}) };
    spec.splits.forEach((split, i) => {
      for (const host of new Set(split.hosts)) {
        const mine = this.#localMaps.get(host);
        if (mine) mine.push(i);
        else this.#localMaps.set(host, [i]);
      }
    });
  }

  get f(): number {
    return this.spec.f;
  }

  allMapsReported(): boolean {
    return this.#reportedMaps.size === this.maps.length;
  }

  allMapsDecided(): boolean {
    return this.#decidedMaps === this.maps.length;
  }

  // ---------------------------------------------------------------- scheduling

  /**
   * Whether a running attempt is late, judged against the time its task's siblings actually took
   * per byte of input (not a fixed timeout, and not their raw durations: a job's last split is
   * often a small tail, and a big map is not late for taking longer than it); nothing is late
   * before some sibling has finished.
   */
  lateness(ctx: JobContext): (a: Attempt, t: TaskInProgress) => boolean {
    const { rate } = this.#figures();
    return (a, t) => {
      const r = rate[t.kind];
      return r !== undefined && ctx.now - a.startMs > Math.max(ctx.lateFloorMs, ctx.lateFactor * r * weight(a));
    };
  }

  /**
   * The figures scheduling judges by; they change only when an attempt reports. The map side is
   * kept in order as maps finish (there may be tens of thousands); the reduce side is found again.
   */
  #figures(): Figures {
    const m = this.#mapFigures;
    this.#figuresCache ??= {
      rate: { map: m.rate.median(), reduce: median(this.reduces.flatMap((t) => t.succeeded().map(rate))) },
      pace: {
        map: m.slowestTook.size ? { duration: m.slowestTook.median()!, rate: m.slowestRate.median()! } : undefined,
        reduce: this.#deadlinePace(this.reduces),
      },
      mapsTook: m.took.median() ?? 0,
    };
    return this.#figuresCache;
  }

  /** A finished map attempt: into the map figures; if it agrees with its decided task, maybe its slowest. */
  #mapFinished(t: TaskInProgress, a: Attempt, ctx: JobContext): void {
    this.#figuresCache = undefined;
    this.#mapFigures.rate.add(rate(a));
    this.#mapFigures.took.add(took(a));
    if (t.decided?.agreeing.includes(a)) {
      this.#agreesWithMap(t, a);
      this.#keepLost(t, ctx);
    }
  }

  /** `a` is (now) in decided map `t`'s agreeing set. */
  #agreesWithMap(t: TaskInProgress, a: Attempt): void {
    const m = this.#mapFigures;
    const slowest = this.#slowestAgreeing.get(t);
    if (slowest && took(slowest) >= took(a)) return;
    if (slowest) {
      m.slowestTook.remove(took(slowest));
      m.slowestRate.remove(rate(slowest));
    }
    this.#slowestAgreeing.set(t, a);
    m.slowestTook.add(took(a));
    m.slowestRate.add(rate(a));
  }

  /**
   * What the hard deadline (a verdict) is judged against, made so that it is never earlier than the
   * time honest attempts took: per decided task its slowest agreeing attempt (f+1 agree, so one is
   * honest and the slowest took at least as long; a liar reporting at once shortens nothing), and
   * of these the median duration and the median time per weighed byte. The deadline takes the
   * larger of the two for the attempt at hand, so judging per byte only ever makes it later.
   */
  #deadlinePace(tasks: TaskInProgress[]): { duration: number; rate: number } | undefined {
    const slowest = tasks.flatMap((t) => (t.decided?.agreeing.length ? [t.decided.agreeing.reduce((s, a) => (took(a) > took(s) ? a : s))] : []));
    if (slowest.length === 0) return undefined;
    return { duration: median(slowest.map(took))!, rate: median(slowest.map(rate))! };
  }

  /** Whether the job still waits for attempt `attemptId` of `trackerId` (it holds a share of the tracker's host, host_share.ts). */
  waitsFor(trackerId: string, attemptId: string): boolean {
    const a = this.#byAttempt.get(attemptId)?.attempt(attemptId);
    return this.state === 'RUNNING' && !!a && a.trackerId === trackerId && a.state === 'running' && !a.missedDeadline;
  }

  /**
   * `trackerId` heartbeats and lists `attemptId` as still running. Past the hard deadline (far
   * past lateness, see CoreOptions.deadlineFactor) that is a missed deadline: a verdict, and the
   * attempt is killed and no longer waited for. Only a tracker that is heartbeating says this, so
   * a slow network cannot earn an honest tracker the verdict; a crashed one is merely lost.
   */
  stillRunning(trackerId: string, attemptId: string, ctx: JobContext): void {
    const t = this.#byAttempt.get(attemptId);
    const a = t?.attempt(attemptId);
    // A reported attempt is done whatever an old running list says.
    if (!t || !a || a.trackerId !== trackerId || a.missedDeadline || a.reported) return;
    a.seenRunningMs ??= ctx.now;
    // Once its own task is decided, its slowest agreeing attempt says how long this input takes.
    // Before that, the decided siblings' pace; until some task of its kind is decided nothing says
    // how long one takes: no deadline (a heavy job's first wave may run past any fixed floor; a hung
    // tracker is caught once others finish).
    const own = t.decided?.agreeing.length ? Math.max(...t.decided.agreeing.map(took)) : undefined;
    const pace = own === undefined ? this.#figures().pace[t.kind] : undefined;
    if (own === undefined && !pace) return;
    const expected = Math.round(own ?? Math.max(pace!.duration, pace!.rate * weight(a)));
    const limit = Math.max(ctx.deadlineFloorMs, ctx.deadlineFactor * expected) + a.allowanceMs;
    const age = ctx.now - a.seenRunningMs;
    if (age <= limit) return;
    a.missedDeadline = true;
    const reason = `missed the deadline of ${t.name} of ${this.id} (still running after ${(age / 1000).toFixed(1)} s` +
      `; at its siblings' pace it would take ${expected} ms)`;
    this.verdicts.push({ tracker_id: trackerId, reason });
    ctx.verdict(trackerId, reason);
    ctx.kill(trackerId, a.id);
    if (a.state === 'running' && this.state === 'RUNNING') {
      a.endMs = ctx.now;
      this.#failAttempt(t, a, 'missed its deadline', ctx);
    }
  }

  /**
   * Attempts to start on `trackerId`, at most `slots` of them. `idleMs`: how long it has had a
   * free slot and been given nothing (a fresh map starts alone on it only after a wait, see below).
   */
  assign(trackerId: string, slots: number, ctx: JobContext, idleMs = Infinity): TaskAction[] {
    const actions: TaskAction[] = [];
    // A tracker proven faulty in this job gets no more of its work (as Hadoop stops using a
    // tracker that failed a job's tasks): its results would only be outvoted again.
    if (this.state !== 'RUNNING' || slots <= 0 || this.#provenHere(trackerId)) return actions;
    const late = this.lateness(ctx);
    // Once a tracker is proven faulty here, tasks it took part in get their next attempt now, not
    // after it has been outvoted on each of them in turn.
    const wanted = (t: TaskInProgress) => t.attemptsWanted((a) => late(a, t), (id) => this.#provenHere(id));

    // The wait scales with the job's maps (a wave's reports spread with their length): a quarter of
    // their median time, at least ctx.pairWaitMs; 0 turns it off.
    const wait = ctx.pairWaitMs && Math.max(ctx.pairWaitMs, this.#figures().mapsTook / 4);
    const shares = ctx.freeSlots();
    for (const t of this.#planMaps(shares, trackerId, slots, wanted, idleMs >= wait)) actions.push(this.#launchMap(t, trackerId, ctx));

    // Tentative reduces: as soon as every map has one reported attempt.
    if (!this.allMapsReported()) return actions;
    for (const t of this.#planReduces(shares, trackerId, slots, actions.length, wanted, idleMs >= wait)) {
      // A launch lists every map's output: a reply with many of a big job's would outgrow gRPC's limit.
      if (ctx.sourceBudget.launches > 0 && ctx.sourceBudget.left < this.maps.length) break;
      const launch = this.#launchReduce(t, trackerId, ctx);
      if (launch) {
        actions.push(launch);
        ctx.sourceBudget.left -= this.maps.length;
        ctx.sourceBudget.launches++;
      }
    }
    return actions;
  }

  /**
   * The reduce attempts `trackerId` should start, in its `slots` less the `taken` ones its maps
   * took, from a plan for the free places of every usable tracker (as #planMaps): each reduce in
   * order gets its wanted attempts on distinct trackers, those given the fewest of the job's
   * reduces so far first (`trackerId` first among equals). A tracker that reports a reduce takes
   * the next one in the same heartbeat; first come, first served, two trackers sharing a host's
   * places would run every reduce, and a reduce liar heartbeating after them none (the fault
   * matrix's corrupt-reduce test failed so). A place kept for another tracker that does not take
   * it (busy with a map, or silent) is this tracker's once it has been idle for `alone`'s wait.
   */
  #planReduces(shares: FreeSlots, trackerId: string, slots: number, taken: number, wanted: (t: TaskInProgress) => number, alone: boolean): TaskInProgress[] {
    const plan = this.#slotPlan(shares, trackerId, slots);
    for (let i = 0; i < taken; i++) plan.take(trackerId);
    const fewest = fewestFirst(this.#reducesOn, trackerId);
    const mine: TaskInProgress[] = [];
    for (const t of this.reduces) {
      if (plan.left(trackerId) <= 0) break;
      const need = wanted(t);
      if (need <= 0) continue;
      const used = t.usedTrackers();
      const open = plan.ids().filter((id) => plan.left(id) > 0 && !used.has(id)).sort(fewest);
      const picked = plan.pick(open, need);
      for (const id of picked) plan.take(id);
      if (picked.includes(trackerId)) mine.push(t);
      else if (alone && !used.has(trackerId)) {
        plan.take(trackerId);
        mine.push(t);
      }
    }
    return mine;
  }

  /**
   * The map attempts `trackerId` should start, from a plan for the free slots of every usable
   * tracker, so that a task's f+1 attempts run side by side. Votes under way come first (a task
   * whose reports disagree needs its tie-breaker: the sooner it runs, the sooner a liar is proven
   * and stops getting work), then tasks with an attempt already, then fresh tasks; within each,
   * those with their split's first block on `trackerId`, which it may run, first, then in index
   * order. A task's attempts go to distinct trackers: those with its split's first block first,
   * then those with the most free slots, then those given the fewest of the job's maps so far
   * (`trackerId` first among equals). So work goes round every tracker: on a shared host, where
   * each tracker has one slot and a vote group leaves one over, the one that reports first would
   * otherwise take every task, and a liar that reports a heartbeat later none (and never meet its
   * rivals). A fresh task is planned only if all its f+1 attempts fit now. What is left over
   * starts anyway once this tracker has had a free slot for a while (`alone`, see assign): until
   * then another tracker may free a slot to run it beside, and a liar that finishes first waits
   * for its rivals' reports. Planning stops once this tracker is full: what the others would get
   * later does not change its part.
   *
   * Each tracker's plan must keep the places other plans give it. Were a task `trackerId` already
   * ran put first in its plan for its locality, two trackers sharing one free place on a host
   * could each give the place to the other, for a task only the other may run, at every
   * heartbeat, and neither run anything (sim seed 9304381: a hung tracker held the host's other
   * place).
   *
   * Started one by one, the attempts of one task would land in different waves: a liar's wrong
   * report would meet its first honest rival only a wave later, and the tie-breaker a wave after
   * that. Trackers that may be faulty, judged by the disputes on maps not decided yet (vote.ts
   * possiblyFaulty), get only tie-breakers until those votes settle: work given to a liar must run
   * again elsewhere. (Reduce disputes do not count: tentative reduces may disagree only because
   * they read different map outputs.) The plan is made again at every heartbeat; only this
   * tracker's part runs.
   */
  #planMaps(shares: FreeSlots, trackerId: string, slots: number, wanted: (t: TaskInProgress) => number, alone: boolean): TaskInProgress[] {
    const usable = shares.free;
    const plan = this.#slotPlan(shares, trackerId, slots);
    const disputed = (t: TaskInProgress) => !t.decided && new Set(t.succeeded().map((a) => voteValue(a.digests!))).size > 1;
    const open = [...this.#openMaps];
    const suspects = possiblyFaulty(open.filter(disputed).map((t) => t.succeeded().map((a) => a.trackerId)), this.f);
    type Item = { t: TaskInProgress; need: number; stage: number; remote: number };
    // Local: `trackerId` holds its split and may run it (a task it already ran is placed elsewhere,
    // in the order every tracker's plan gives it: see below).
    const item = (t: TaskInProgress, need: number, stage: number): Item =>
      ({ t, need, stage, remote: this.#isLocal(t, trackerId) && !t.usedTrackers().has(trackerId) ? 0 : 1 });
    // Maps with attempts (and decided ones whose outputs are all lost), in order; fresh maps are
    // merged in among the third stage, in the same order, as the walk reaches them.
    const started = [
      ...open.map((t) => ({ t, need: wanted(t) })),
      ...this.#lostOutputs(usable).filter((t) => t.running().length === 0).map((t) => ({ t, need: 1 })),
    ].filter((x) => x.need > 0)
      .map((x) => item(x.t, x.need, disputed(x.t) ? 0 : x.t.attempts.some((a) => a.state === 'running' || a.state === 'succeeded') ? 1 : 2))
      .sort((a, b) => a.stage - b.stage || a.remote - b.remote || a.t.index - b.t.index);
    const self = this;
    function* todo(): Generator<Item> {
      let i = 0;
      for (; i < started.length && started[i]!.stage < 2; i++) yield started[i]!;
      for (const t of self.#fresh(trackerId)) {
        const fresh = item(t, wanted(t), 2);
        for (; i < started.length && (started[i]!.remote - fresh.remote || started[i]!.t.index - t.index) < 0; i++) yield started[i]!;
        yield fresh;
      }
      for (; i < started.length; i++) yield started[i]!;
    }
    const mine: TaskInProgress[] = [];
    const planned = new Set<TaskInProgress>();
    const fewest = fewestFirst(this.#mapsOn, trackerId);
    const place = (t: TaskInProgress, need: number, stage: number, whole: boolean): void => {
      const used = t.usedTrackers();
      const local = (id: string) => (this.#isLocal(t, id) ? 0 : 1);
      const open = plan.ids().filter((id) => plan.left(id) > 0 && !used.has(id) && (stage === 0 || !suspects.has(id))).sort((a, b) =>
        local(a) - local(b) || plan.left(b) - plan.left(a) || fewest(a, b));
      const picked = plan.pick(open, need);
      if (whole && picked.length < need) return;
      planned.add(t);
      for (const id of picked) {
        plan.take(id);
        if (id === trackerId) mine.push(t);
      }
    };
    // Trackers that could take part in a fresh task: when fewer than `need`, no later task fits either.
    const room = () => plan.spread((id) => !suspects.has(id));
    const full = () => plan.left(trackerId) <= 0;
    for (const { t, need, stage } of todo()) {
      if (full() || (stage > 0 && suspects.has(trackerId))) return mine;
      if (stage === 2 && room() < need) break;
      place(t, need, stage, stage === 2);
    }
    if (alone) {
      for (const { t, need, stage } of todo()) {
        if (full() || (stage > 0 && suspects.has(trackerId)) || (stage === 2 && room() === 0)) return mine;
        if (!planned.has(t)) place(t, need, stage, false);
      }
    }
    return mine;
  }

  /** Every usable tracker's free places, less those proven faulty here; `trackerId` with `slots`. */
  #slotPlan(shares: FreeSlots, trackerId: string, slots: number): SlotPlan {
    const plan = new SlotPlan(shares);
    for (const id of plan.ids()) if (this.#provenHere(id)) plan.delete(id);
    plan.set(trackerId, slots);
    return plan;
  }

  /**
   * The maps with no attempt yet, those whose split `trackerId` holds first, each in index order.
   * (Each walk skips what has had an attempt since the last; maps never become fresh again.)
   */
  *#fresh(trackerId: string): Generator<TaskInProgress> {
    const fresh = (i: number) => this.maps[i]!.attempts.length === 0;
    const local = this.#localMaps.get(trackerId) ?? [];
    let from = this.#localFrom.get(trackerId) ?? 0;
    while (from < local.length && !fresh(local[from]!)) from++;
    this.#localFrom.set(trackerId, from);
    for (let k = from; k < local.length; k++) if (fresh(local[k]!)) yield this.maps[local[k]!]!;
    while (this.#freshFrom < this.maps.length && !fresh(this.#freshFrom)) this.#freshFrom++;
    for (let i = this.#freshFrom; i < this.maps.length; i++) {
      if (fresh(i) && !this.#isLocal(this.maps[i]!, trackerId)) yield this.maps[i]!;
    }
  }

  #isLocal(t: TaskInProgress, trackerId: string): boolean {
    return this.spec.splits[t.index]!.hosts.includes(trackerId);
  }

  /**
   * Decided maps whose agreeing attempts all sit on trackers that are gone or no longer trusted
   * (`usable`: the trackers that are neither): while a reduce still needs their outputs, they must
   * run again (once at a time). Found again when the usable trackers change; in between, only a
   * report can change the answer, and report() keeps it (#keepLost).
   */
  #lostOutputs(usable: Map<string, number>): TaskInProgress[] {
    if (this.#decidedMaps === 0 || this.reduces.every((r) => r.decided)) return [];
    const key = [...usable.keys()].join(',');
    if (this.#lost?.key !== key) {
      this.#lost = { key, maps: new Set(this.maps.filter((t) => t.decided && !t.decided.agreeing.some((a) => usable.has(a.trackerId)))) };
    }
    return [...this.#lost.maps];
  }

  /** Decided map `t` has a new agreeing attempt (or its decision): whether its output is still lost. */
  #keepLost(t: TaskInProgress, ctx: JobContext): void {
    if (!this.#lost) return;
    if (t.decided!.agreeing.some((a) => ctx.liveAddress(a.trackerId) !== undefined)) this.#lost.maps.delete(t);
    else this.#lost.maps.add(t);
  }

  #start(t: TaskInProgress, trackerId: string, inputBytes: number, allowanceMs: number, ctx: JobContext, sources?: SourceUse[]): Attempt {
    const attempt: Attempt = { id: t.newAttemptId(), trackerId, startMs: ctx.now, inputBytes, allowanceMs, state: 'running', sources };
    t.attempts.push(attempt);
    this.#byAttempt.set(attempt.id, t);
    if (t.kind === 'map' && !t.decided) this.#openMaps.add(t);
    this.#mostAttempts = Math.max(this.#mostAttempts, t.attempts.length);
    return attempt;
  }

  #launchMap(t: TaskInProgress, trackerId: string, ctx: JobContext): TaskAction {
    const split = this.spec.splits[t.index]!;
    const reads = split.blocks.map((b) => b.block); // what the map reads (jobtracker/splits.ts)
    const a = this.#start(t, trackerId, split.length, this.#allowance(trackerId, reads), ctx);
    this.#mapsOn.set(trackerId, (this.#mapsOn.get(trackerId) ?? 0) + 1);
    return {
      launch_map: {
        attempt_id: a.id,
        job_id: this.id,
        code: this.code,
        map_index: t.index,
        path: split.path,
        offset: split.offset,
        length: split.length,
        file_size: split.fileSize,
        blocks: split.blocks,
        num_reduces: this.spec.numReduces,
      },
    };
  }

  /**
   * How long sources may hold `trackerId` up reading `blocks` and the job's code and cache files: for each one it
   * does not hold, up to f faulty replicas (at least one) may be tried first, each as slow as
   * lib/source_pace.ts allows.
   */
  #allowance(trackerId: string, blocks: Pick<BlockRef, 'size' | 'replicas'>[]): number {
    let ms = 0;
    for (const b of [...codeBlocks(this.code), ...blocks]) {
      if (b.replicas.some((r) => r.tracker_id === trackerId)) continue;
      ms += Math.max(Math.min(b.replicas.length, this.spec.f), 1) * sourceAllowanceMs(b.size);
    }
    return ms;
  }

  #provenHere(trackerId: string): boolean {
    return this.verdicts.some((v) => v.tracker_id === trackerId);
  }

  /**
   * Picks, for every map, the attempt a reduce fetches from: an agreed one if decided, else a
   * reported one. A tentative reduce is a bet on its inputs, so it is not placed on an undecided
   * map whose reports already disagree on this partition (the vote is near), nor on a tracker
   * proven faulty in this job.
   */
  #sources(r: number, reducer: string, ctx: JobContext): { uses: SourceUse[]; wire: MapSource[] } | undefined {
    const uses: SourceUse[] = [];
    const wire: MapSource[] = [];
    for (const m of this.maps) {
      if (!m.decided && new Set(m.succeeded().map((a) => a.digests![r])).size > 1) return undefined;
      const pool = (m.decided ? m.decided.agreeing : m.succeeded().filter((a) => !this.#provenHere(a.trackerId))).filter(
        (a) => ctx.liveAddress(a.trackerId) !== undefined && !this.#badSources[r]!.has(`${reducer}|${a.trackerId}`),
      );
      if (pool.length === 0) return undefined;
      const a = m.decided ? pool[r % pool.length]! : pool[0]!;
      const location: Location = { tracker_id: a.trackerId, address: ctx.liveAddress(a.trackerId)! };
      uses.push({ attemptId: a.id, trackerId: a.trackerId, digest: a.digests![r]! });
      wire.push({ map_index: m.index, digest: a.digests![r]!, size: a.sizes![r]!, location });
    }
    return { uses, wire };
  }

  #launchReduce(t: TaskInProgress, trackerId: string, ctx: JobContext): TaskAction | undefined {
    const sources = this.#sources(t.index, trackerId, ctx);
    if (!sources) return undefined;
    // A reduce's real input is known only from what map attempts report, which a liar could inflate
    // (so a hung reducer is never late) or shrink (so an honest one misses its deadline): every
    // reduce of a job is weighed as an equal share of the job's input, which the job tracker knows.
    const share = this.spec.splits.reduce((n, s) => n + s.length, 0) / this.spec.numReduces;
    const fetches = sources.wire.map((s) => ({ size: s.size, replicas: [s.location] }));
    const a = this.#start(t, trackerId, share, this.#allowance(trackerId, fetches), ctx, sources.uses);
    this.#reducesOn.set(trackerId, (this.#reducesOn.get(trackerId) ?? 0) + 1);
    return { launch_reduce: { attempt_id: a.id, job_id: this.id, code: this.code, partition: t.index, sources: sources.wire } };
  }

  // ---------------------------------------------------------------- reports

  /** An attempt's outcome, as its tracker reported it. */
  report(trackerId: string, rep: AttemptReport, ctx: JobContext): void {
    const t = this.#byAttempt.get(rep.attempt_id);
    const a = t?.attempt(rep.attempt_id);
    if (!t || !a || a.trackerId !== trackerId || a.state !== 'running') return; // late, killed, or not its own
    // Finished attempts (and decisions, and reduces going stale) change only here.
    this.#figuresCache = undefined;
    a.endMs = ctx.now;
    a.reported = true;
    if (!rep.ok) {
      const badSource = rep.bad_source_tracker ? { trackerId: rep.bad_source_tracker, digest: rep.bad_source_digest } : undefined;
      this.#failAttempt(t, a, rep.error || 'failed', ctx, badSource);
      return;
    }
    const expected = t.kind === 'map' ? Math.max(1, this.spec.numReduces) : 1;
    if (rep.digests.length !== expected || rep.sizes.length !== expected) {
      this.#failAttempt(t, a, `malformed report: ${rep.digests.length} digests, expected ${expected}`, ctx);
      ctx.verdict(trackerId, `sent a malformed report for ${t.name} of ${this.id}`);
      return;
    }
    a.state = 'succeeded';
    if (t.kind === 'map') this.#reportedMaps.add(t);
    a.digests = rep.digests;
    a.sizes = rep.sizes;
    a.localRead = rep.local_read;
    a.fetchedBytes = rep.fetched_bytes ?? 0;
    a.counters = Object.fromEntries(rep.counters.map((c) => [c.name, c.value]));

    if (t.decided) {
      // A late or extra attempt of a decided task: it joins the agreeing set or is proven wrong.
      if (voteValue(a.digests) === t.decided.value) t.decided.agreeing.push(a);
      else this.#blame(a, t, ctx);
      if (t.kind === 'map') this.#mapFinished(t, a, ctx);
      return;
    }
    if (t.kind === 'map') {
      const decided = t.tryDecide();
      this.#mapFinished(t, a, ctx);
      if (decided) this.#mapDecided(t, ctx);
    } else if (this.allMapsDecided() && t.tryDecide()) {
      this.#reduceDecided(t, ctx);
    }
    this.#checkHopeless(t, ctx);
  }

  #failAttempt(t: TaskInProgress, a: Attempt, error: string, ctx: JobContext, badSource?: { trackerId: string; digest: string }): void {
    a.state = 'failed';
    a.error = error;
    if (badSource && t.kind === 'reduce') {
      // The reduce could not use one of its inputs. At most f sources can be faulty, so a reducer
      // that blames up to f distinct trackers may try again, fetching from others; one that blames
      // more is lying about at least one of them, and its failure counts as its own.
      const named = a.sources?.some((s) => s.trackerId === badSource.trackerId && s.digest === badSource.digest);
      if (named) {
        this.#badSources[t.index]!.add(`${a.trackerId}|${badSource.trackerId}`);
        ctx.audit(this.id, t.name, badSource.trackerId, badSource.digest);
      }
      const blamed = [...this.#badSources[t.index]!].filter((k) => k.startsWith(`${a.trackerId}|`)).length;
      a.notItsFault = !!named && blamed <= this.f;
    }
    const failed = t.failedTrackers();
    if (failed.length >= this.f + 1) {
      this.fail('BFT_TASK_FAILED', `${t.name} failed on ${failed.length} tracker${failed.length === 1 ? '' : 's'} (${failed.join(', ')}): ${error}`, ctx);
      return;
    }
    this.#checkHopeless(t, ctx);
  }

  #mapDecided(t: TaskInProgress, ctx: JobContext): void {
    this.#decidedMaps++;
    this.#openMaps.delete(t);
    for (const a of t.decided!.agreeing) this.#agreesWithMap(t, a);
    for (const loser of t.losers()) this.#blame(loser, t, ctx);
    this.#killRest(t, 'its task was decided', ctx);
    // Tentative reduces that used a map output the vote went against are discarded and rerun.
    const agreed = t.decided!.digests;
    for (const r of this.reduces) {
      for (const a of r.attempts) {
        if (a.state !== 'running' && a.state !== 'succeeded') continue;
        if (a.sources![t.index]!.digest === agreed[r.index]) continue;
        if (a.state === 'running') ctx.kill(a.trackerId, a.id);
        a.state = 'stale';
        this.reduceReruns++;
      }
    }
    if (this.allMapsDecided()) {
      if (this.reduces.length === 0) this.#commit(this.maps, 'm', ctx);
      for (const r of this.reduces) {
        if (this.state !== 'RUNNING') return;
        if (r.tryDecide()) this.#reduceDecided(r, ctx);
        else this.#checkHopeless(r, ctx);
      }
    }
  }

  #reduceDecided(t: TaskInProgress, ctx: JobContext): void {
    for (const loser of t.losers()) this.#blame(loser, t, ctx);
    this.#killRest(t, 'its task was decided', ctx);
    if (this.state !== 'RUNNING' || !this.reduces.every((r) => r.decided)) return;
    // (Each reduce's other attempts were killed when it was decided, just above for this one.)
    this.#commit(this.reduces, 'r', ctx);
  }

  /**
   * Commits the job's output: a part file per task (the reduces, or a map-only job's maps), each
   * the agreed digest, its replicas the f+1 (or more) matching copies.
   */
  #commit(tasks: TaskInProgress[], kind: 'm' | 'r', ctx: JobContext): void {
    if (this.state !== 'RUNNING') return;
    const files: OutputFile[] = tasks.map((t) => ({
      path: `${this.spec.output}/part-${kind}-${String(t.index).padStart(5, '0')}`,
      digest: t.decided!.digests[0]!,
      size: t.decided!.sizes[0]!,
      replicas: t.decided!.agreeing.map((a) => ({ tracker_id: a.trackerId, address: ctx.liveAddress(a.trackerId) ?? '' })),
    }));
    this.state = 'COMMITTING';
    ctx.commit(this.id, this.spec.output, files);
  }

  /** The tasks whose outputs are the job's: its reduces, or a map-only job's maps. */
  #outputTasks(): TaskInProgress[] {
    return this.reduces.length ? this.reduces : this.maps;
  }

  /**
   * Stops the attempts of `t` still running: nothing waits for them (as Hadoop kills the other
   * attempts of a task once one succeeds), and their slots and CPU go to other work. Not the
   * tracker's fault; one that keeps listing an attempt after the kill can still miss its deadline.
   */
  #killRest(t: TaskInProgress, why: string, ctx: JobContext): void {
    for (const a of t.running()) {
      ctx.kill(a.trackerId, a.id);
      a.state = 'failed';
      a.notItsFault = true;
      a.endMs = ctx.now;
      a.error = `killed: ${why}`;
    }
  }

  /** The job tracker fetched `digest` from `trackerId` itself and got other bytes: proof. */
  servedBadBytes(trackerId: string, task: string, digest: string, ctx: JobContext): void {
    const reason = `served bytes that did not match digest ${shortDigest(digest)} (${task} of ${this.id})`;
    this.verdicts.push({ tracker_id: trackerId, reason });
    ctx.verdict(trackerId, reason);
  }

  #blame(a: Attempt, t: TaskInProgress, ctx: JobContext): void {
    const reason = `lost the vote on ${t.name} of ${this.id} (reported ${a.digests!.map(shortDigest).join(',')}, ` +
      `agreed ${t.decided!.digests.map(shortDigest).join(',')})`;
    this.verdicts.push({ tracker_id: a.trackerId, reason });
    ctx.verdict(a.trackerId, reason);
  }

  #checkHopeless(t: TaskInProgress, ctx: JobContext): void {
    if (this.state !== 'RUNNING' || t.decided) return;
    if (t.kind === 'reduce' && !this.allMapsDecided()) return; // its votes may still go stale
    if (t.hopeless()) {
      const voters = t.succeeded();
      const groups = new Map<string, string[]>();
      for (const a of voters) {
        const v = a.digests!.map(shortDigest).join(',');
        groups.set(v, [...(groups.get(v) ?? []), a.trackerId]);
      }
      const detail = [...groups].map(([v, ts]) => `${ts.join('+')} reported ${v}`).join('; ');
      const unproven = !voters.some((a) => ctx.proven(a.trackerId));
      if (unproven && this.#agreedElsewhere(t, voters.map((a) => a.trackerId))) {
        // Trackers that agreed on another task and were never caught lying now disagree: the job
        // itself is the likelier cause.
        const differing = voters[0]!.digests!.flatMap((d, p) => (voters.some((a) => a.digests![p] !== d) ? [p] : []));
        const where = t.kind === 'map' ? ` (partition${differing.length > 1 ? 's' : ''} ${differing.join(', ')})` : '';
        this.fail('BFT_NON_DETERMINISTIC',
          `the job looks non-deterministic: attempts of ${t.name}${where} produced different bytes on trackers that agree ` +
          `elsewhere and were never caught lying (${detail}); a job must produce the same output on every run ` +
          `(if this one does, more than f trackers are faulty, lying only here)`, ctx);
        return;
      }
      this.fail('BFT_NO_QUORUM', `no f+1=${this.f + 1} trackers agree on ${t.name} after ${voters.length} attempts: ${detail}` +
        (unproven ? ' (none of them was ever proven faulty: more than f are faulty, or the job is non-deterministic)' : ''), ctx);
    }
  }

  /** Whether two of `trackers` were both in the agreeing set of some other decided task of this job. */
  #agreedElsewhere(task: TaskInProgress, trackers: string[]): boolean {
    for (const t of [...this.maps, ...this.reduces]) {
      if (t === task || !t.decided) continue;
      const agreeing = new Set(t.decided.agreeing.map((a) => a.trackerId));
      if (trackers.filter((id) => agreeing.has(id)).length >= 2) return true;
    }
    return false;
  }

  /** A tracker died: its running attempts fail (its finished map outputs stay voted, but unreachable). */
  /**
   * Whether the job, still running, has an attempt running on the tracker or an output there that
   * a vote counted. Committing counts as running: until the commit is applied, the output's copies
   * are not yet dfs blocks the replication monitor would keep (sim seed 603361966).
   */
  uses(trackerId: string): boolean {
    if (this.state !== 'RUNNING' && this.state !== 'COMMITTING') return false;
    return [...this.maps, ...this.reduces].some((t) => t.attempts.some((a) => a.trackerId === trackerId && (a.state === 'running' || a.state === 'succeeded')));
  }

  /**
   * A tracker stopped heartbeating: its running attempts are over, not failed (as Hadoop kills,
   * not fails, the attempts of a lost tracker). A crash is no lie, and trackers restarted in turn
   * (an upgrade) must not add up to f+1 failures of a task; one that comes back may run the task
   * again. A tracker that keeps coming and going still holds up no task: others run it meanwhile.
   */
  trackerLost(trackerId: string, ctx: JobContext): void {
    for (const t of [...this.maps, ...this.reduces]) {
      for (const a of t.running()) if (a.trackerId === trackerId) {
        a.state = 'failed';
        a.notItsFault = true;
        a.error = 'tracker lost';
        a.endMs = ctx.now;
      }
    }
    // Tasks that can no longer find enough trackers are judged at the next scheduling pass.
  }

  /** Whether some task can make no progress with the trackers that are left. */
  checkStuck(eligibleTrackers: string[], ctx: JobContext): void {
    if (this.state !== 'RUNNING') return;
    eligibleTrackers = eligibleTrackers.filter((id) => !this.#provenHere(id));
    // Every task has had fewer attempts than there are eligible trackers: each has one to go to.
    if (eligibleTrackers.length > this.#mostAttempts) return;
    const late = this.lateness(ctx);
    const mapsDecided = this.allMapsDecided();
    for (const t of this.#allTasks()) {
      // The same test per task (cheap, so first): an eligible tracker it has not used is left.
      if (t.decided || t.attempts.length < eligibleTrackers.length) continue;
      // A late attempt may still report, and an undecided map may still free a reduce's trackers
      // (its tentative attempts going stale): neither task is stuck yet.
      if (t.running().length > 0 || (t.kind === 'reduce' && !mapsDecided)) continue;
      if (t.attemptsWanted((a) => late(a, t)) === 0) continue;
      const used = t.usedTrackers();
      if (eligibleTrackers.some((id) => !used.has(id))) continue;
      const votes = t.succeeded().map((a) => `${a.trackerId}:${a.digests!.map(shortDigest).join(',')}`);
      this.fail('BFT_NO_QUORUM',
        `${t.name} cannot reach f+1=${this.f + 1} agreeing attempts: no unused live tracker is left` +
        (votes.length ? ` (votes so far: ${votes.join('; ')})` : ''), ctx);
      return;
    }
  }

  *#allTasks(): Generator<TaskInProgress> {
    yield* this.maps;
    yield* this.reduces;
  }

  fail(code: string, message: string, ctx: JobContext): void {
    this.#end('FAILED', code, message, ctx);
  }

  /** A user stopped it (`bftmr job kill`): only a job not yet committing can be. */
  kill(message: string, ctx: JobContext): void {
    if (this.state === 'RUNNING') this.#end('KILLED', 'JOB_KILLED', message, ctx);
  }

  /** The job is over without output: its running attempts are killed and count against no tracker. */
  #end(state: 'FAILED' | 'KILLED', code: string, message: string, ctx: JobContext): void {
    if (this.state === 'SUCCEEDED' || this.state === 'FAILED' || this.state === 'KILLED') return;
    this.state = state;
    this.errorCode = code;
    this.error = message;
    this.finishMs = ctx.now;
    for (const t of [...this.maps, ...this.reduces]) for (const a of t.running()) {
      ctx.kill(a.trackerId, a.id);
      a.state = 'failed';
      a.notItsFault = true;
      a.endMs = ctx.now;
      a.error = state === 'KILLED' ? 'killed with the job' : 'stopped: the job failed';
    }
  }

  committed(now: number): void {
    this.state = 'SUCCEEDED';
    this.finishMs = now;
  }

  /** Every tracker holding intermediate data of this job, and the committed digests each keeps. */
  holders(): Map<string, Set<string>> {
    const keep = new Map<string, Set<string>>();
    for (const t of [...this.maps, ...this.reduces]) for (const a of t.attempts) keep.set(a.trackerId, keep.get(a.trackerId) ?? new Set());
    if (this.state === 'SUCCEEDED') {
      for (const r of this.#outputTasks()) for (const a of r.decided!.agreeing) keep.get(a.trackerId)!.add(r.decided!.digests[0]!);
    }
    return keep;
  }

  /** Every attempt so far, in the order they started: the job's history. */
  attempts(): AttemptInfo[] {
    const outcome = (a: Attempt, t: TaskInProgress): AttemptOutcome => {
      if (a.state !== 'succeeded') return a.state;
      if (!t.decided) return 'reported';
      return voteValue(a.digests!) === t.decided.value ? 'agreed' : 'outvoted';
    };
    return [...this.maps, ...this.reduces]
      .flatMap((t) => t.attempts.map((a) => ({ a, t })))
      .sort((x, y) => x.a.startMs - y.a.startMs)
      .map(({ a, t }) => ({
        attempt_id: a.id,
        kind: t.kind,
        task: t.index,
        tracker_id: a.trackerId,
        outcome: outcome(a, t),
        start_ms: a.startMs - this.submitMs,
        end_ms: a.endMs === undefined ? 0 : a.endMs - this.submitMs,
        local_read: !!a.localRead,
        fetched_bytes: a.fetchedBytes ?? 0,
        error: a.error ?? (a.missedDeadline ? 'missed its deadline' : ''),
      }));
  }

  status(now: number): JobStatus {
    const all = (ts: TaskInProgress[]) => ts.reduce((n, t) => n + t.attempts.length, 0);
    const counters = new Map<string, number>();
    for (const t of [...this.maps, ...this.reduces]) {
      const a = t.decided?.agreeing[0];
      for (const [k, v] of Object.entries(a?.counters ?? {})) counters.set(k, (counters.get(k) ?? 0) + v);
    }
    return {
      job_id: this.id,
      name: this.spec.name,
      state: this.state === 'COMMITTING' ? 'RUNNING' : this.state,
      error: this.error,
      error_code: this.errorCode,
      maps_total: this.maps.length,
      maps_decided: this.maps.filter((t) => t.decided).length,
      maps_reported: this.maps.filter((t) => t.decided || t.succeeded().length > 0).length,
      reduces_total: this.reduces.length,
      reduces_decided: this.reduces.filter((t) => t.decided).length,
      reduces_reported: this.reduces.filter((t) => t.decided || t.succeeded().length > 0).length,
      map_attempts: all(this.maps),
      reduce_attempts: all(this.reduces),
      votes_decided: [...this.maps, ...this.reduces].filter((t) => t.decided).length,
      reduce_reruns: this.reduceReruns,
      local_map_reads: this.maps.reduce((n, t) => n + t.attempts.filter((a) => a.localRead).length, 0),
      map_fetched_bytes: this.maps.reduce((n, t) => n + t.attempts.reduce((m, a) => m + (a.fetchedBytes ?? 0), 0), 0),
      output: this.spec.output,
      elapsed_ms: (this.finishMs ?? now) - this.submitMs,
      f: this.f,
      counters: [...counters].sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, value]) => ({ name, value })),
      verdicts: this.verdicts,
      rerun_as: '',
      rerun_of: this.spec.rerunOf ?? '',
    };
  }
}

/**
 * Orders tracker ids for a task's attempts: those given the fewest of the job's attempts of its
 * kind (`given`) first, then `trackerId` (the one heartbeating), then by id.
 */
function fewestFirst(given: Map<string, number>, trackerId: string): (a: string, b: string) => number {
  const n = (id: string) => given.get(id) ?? 0;
  return (a, b) => n(a) - n(b) || Number(b === trackerId) - Number(a === trackerId) || (a < b ? -1 : 1);
}

/** The blocks every attempt of a job reads besides its input: the code, and the cache files. */
export function codeBlocks(code: Pick<JobCode, 'bundle' | 'cache'>): BlockRef[] {
  return [code.bundle, ...(code.cache ?? []).flatMap((c) => c.blocks)];
}
