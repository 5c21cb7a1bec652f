/**
 * The deterministic simulator (TigerBeetle's VOPR is the model): the job tracker core, 2f+1..2f+3
 * simulated task trackers, a lossy network and a few jobs, all in one process and all decided by one
 * seed. Nothing here reads a real clock or Math.random: time is a number the event queue advances,
 * randomness is one seeded PRNG forked per concern. Safety is checked after every step; liveness at
 * the end. A failure names its seed, so `node --import tsx sim/main.ts --seed S --verbose` replays it.
 *
 * The simulated task tracker copies the real one (tasktracker/server.ts) where it matters to the
 * core: one heartbeat in flight at a time, a heartbeat as soon as an attempt ends, reports kept
 * until a heartbeat reply arrives (a lost request or reply means they go again), re-registration
 * when told to. Its faults copy tasktracker/faults.ts. Task outputs are digests, not bytes: an
 * honest map output is sha256(job/map/partition), and a reduce output is a function of the digests
 * it verified its inputs against, so a reduce fed a wrong map output produces a wrong digest, as a
 * real reduce does.
 *
 * The dfs is simulated beside the jobs: files whose blocks the simulated trackers hold, which the
 * core's replication monitor keeps at their replication through crashes and storage liars, with
 * a client that reads every file now and then (and reports bad copies, as the real one does),
 * routine audits, repairs that pull from the sources the core names, and files removed. Blocks
 * are digests here too; a copy is good, lost, or served altered.
 *
 * In some seeds the job tracker is killed and started again (jtRestartsAtMs), once or twice, as
 * jobtracker/server.ts starts: a new core from what the old one had persisted (the namespace's
 * blocks and replica lists, the job records); whatever it had in flight is lost. Trackers register
 * again, jobs it left running run again under new ids, and every check above still holds.
 *
 * This file is the Simulation itself (the network, the trackers' behaviour, the checks); beside it:
 * prng.ts (the seeded randomness), scenario.ts (what a seed makes of the cluster), reference.ts
 * (what honest attempts output), properties.ts (the properties and the commit check),
 * event_queue.ts (the clock) and sim_tracker.ts (a simulated tracker's state).
 */
import { createHash } from 'node:crypto';
import { BftmrError, isBftmrError, messageOf } from '../lib/errors.ts';
import { sourceAllowanceMs } from '../lib/source_pace.ts';
import type {
  AttemptReport, BlockRef, FileBlock, HeartbeatReply, HeartbeatRequest, JobStatus, LaunchMap, LaunchReduce, ReplicationResult, TaskAction,
} from '../lib/messages.ts';
import { JobTrackerCore } from '../jobtracker/core/jobtracker_core.ts';
import type { CoreOptions, Effect, JobSpec } from '../jobtracker/core/types.ts';
import { EventQueue } from './event_queue.ts';
import { Prng } from './prng.ts';
import { commitProblems, type CommitLike, type Property, type Violation } from './properties.ts';
import { honestMapDigest, honestMapSize, reduceDigest, reduceSize, referenceOutput, sha256, type ExpectedFile } from './reference.ts';
import { describeScenario, scenarioFor, type Feature, type JobPlan, type Scenario, type SimOptions, type WritePlan } from './scenario.ts';
import { DFS, SimTracker, type RunningAttempt } from './sim_tracker.ts';

const MINUTE = 60_000;
/** A balancing run ends by then: rounds of moves, and a repair timeout for moves to a tracker that hangs. */
const kBalanceWithinMs = 3 * MINUTE;
export const kDefaultMaxSimMs = 10 * MINUTE;
/** A run that needs more events than this is itself a bug (a livelock in the simulator or the core). */
const kMaxEvents = 2_000_000;

/** A dfs file of the simulation (put, or a job's committed output): its blocks' digests; `removed` once it is rm'd. */
interface SimFile {
  name: string;
  blocks: string[];
  removed: boolean;
}

/** What the simulator knows about every attempt the core launched, to judge the core's decisions. */
interface AttemptFacts {
  trackerId: string;
  jobId: string;
  task: string;
  /** Reduce attempts: the digest it was told to expect per map index. */
  sources?: { mapIndex: number; digest: string }[];
  partition?: number;
  /** An ok report for it reached the core while the core counted its tracker alive. */
  voted: boolean;
  /** The core sent a kill for it: a report that arrives with or after the kill is not counted. */
  killed: boolean;
}

interface SimJob {
  plan: JobPlan;
  spec?: JobSpec;
  id?: string;
  refused?: string;
  expected?: ExpectedFile[];
  commit?: CommitLike;
  applied: boolean;
  /** The core accepted a kill of it. */
  killed?: boolean;
  /** The ids it had before job tracker restarts (it runs again under a new one each time). */
  pastIds: string[];
}

export interface JobOutcome {
  id: string;
  state: string;
  error: string;
  elapsedMs: number;
}

export interface SimResult {
  seed: number;
  scenario: Scenario;
  description: string;
  violations: Violation[];
  /** Why liveness was not judged, if it was not (more than f trackers behaved as faulty). */
  livenessWaived?: string;
  jobs: JobOutcome[];
  refused: string[];
  events: number;
  simMs: number;
  /** SHA-256 of the trace: the same seed must give the same one. */
  traceHash: string;
}

const START = Date.UTC(2024, 0, 2, 3, 4, 5);

export function runSeed(opts: SimOptions): SimResult {
  return new Simulation(opts).run();
}

class Simulation {
  readonly scenario: Scenario;
  readonly #opts: SimOptions;
  readonly #queue = new EventQueue();
  readonly #net: Prng;
  readonly #work: Prng;
  #core: JobTrackerCore;
  readonly #coreOpts: CoreOptions;
  /** The randomness of job trackers started again (drawn after the others: the streams above stay as they were). */
  readonly #restartRandom: Prng;
  /** Where puts during the run place their blocks (drawn after the others, as above). */
  readonly #writeRng: Prng;
  /** Blocks of puts whose client died: garbage, to be gone from every up tracker by the end. */
  readonly #abandoned = new Set<string>();
  /** What the job tracker keeps on disk: the namespace's blocks (as it records them) and the job records. */
  readonly #persisted = new Map<string, { size: number; wanted: number; replicas: string[] }>();
  readonly #records = new Map<string, JobStatus>();
  /** The trackers it keeps on disk as being decommissioned ('decommission' effects). */
  readonly #leaving = new Set<string>();
  /** The verdicts it keeps on disk ('verdict' effects), per tracker. */
  readonly #verdicts = new Map<string, string[]>();
  /** When the job tracker last restarted (START if never). */
  #restartedAt = START;
  /** When the operator last started balancing (the run goes with a job tracker restart). */
  #balanceStartedAt: number | undefined;
  /** Attempts launched by a job tracker that restarted since. */
  readonly #launchedBeforeRestart = new Set<string>();
  readonly #trackers: SimTracker[];
  readonly #byId = new Map<string, SimTracker>();
  readonly #jobs: SimJob[];
  readonly #attempts = new Map<string, AttemptFacts>();
  /** Attempts whose report carried a digest other than the honest one for its inputs. */
  readonly #lies = new Set<string>();
  /** Trackers that sent the core at least one lying report. */
  readonly #liars = new Set<string>();
  /** Trackers the core declared lost though they were up (the network made them look crashed). */
  readonly #spuriouslyLost = new Set<string>();
  readonly #violations: Violation[] = [];
  /** The registration each re-registering tracker waits for (older replies are ignored). */
  readonly #registerAttempt = new Map<SimTracker, number>();
  readonly #hash = createHash('sha256');
  readonly #dfsRng: Prng;
  readonly #files: SimFile[] = [];
  /** dfs block -> trackers a read found serving it bad (every time) or not holding it, though they claim to. */
  readonly #badCopies = new Map<string, Set<string>>();
  #now = START;
  #events = 0;
  #verdictsSeen = 0;

  constructor(opts: SimOptions) {
    this.#opts = opts;
    this.scenario = scenarioFor(opts);
    const root = new Prng(opts.seed ^ 0x5eed5eed);
    const coreRandom = root.fork();
    this.#net = root.fork();
    this.#work = root.fork();
    this.#dfsRng = root.fork();
    const s = this.scenario;
    const coreOpts: CoreOptions = {
      heartbeatIntervalMs: s.heartbeatIntervalMs,
      trackerExpiryMs: s.trackerExpiryMs,
      blacklistAfterVerdicts: s.blacklistAfterVerdicts,
      lateFactor: s.lateFactor,
      lateFloorMs: s.lateFloorMs,
      deadlineFloorMs: s.deadlineFloorMs,
      pairWaitMs: s.pairWaitMs,
      writeLeaseMs: s.writeLeaseMs,
    };
    this.#core = new JobTrackerCore(coreOpts, () => coreRandom.next(), START);
    this.#trackers = s.trackers.map((plan, i) => new SimTracker(i, plan));
    this.#jobs = s.jobs.map((plan) => ({ plan, applied: false, pastIds: [] }));
    this.#coreOpts = coreOpts;
    this.#restartRandom = root.fork();
    this.#writeRng = root.fork();
  }

  // ---------------------------------------------------------------- driving

  run(): SimResult {
    const s = this.scenario;
    const limit = START + (this.#opts.maxSimMs ?? kDefaultMaxSimMs);
    this.#trace(`seed ${s.seed}: ${describeScenario(s)}`);
    for (const t of this.#trackers) {
      // A first start: no id yet, the core picks one (from its seeded random).
      t.id = this.#core.register({ tracker_id: '', ...this.#where(t), pid: 1000 + t.index, slots: t.plan.slots, fault: t.plan.mode === 'none' ? '' : t.plan.mode }, this.#now);
      this.#byId.set(t.id, t);
      t.nextBlockReportMs = this.#now + s.blockReportMs;
      this.#trace(`${t.name} registered as ${t.id} (${t.plan.mode}, ${t.plan.slots} slots)`);
      this.#at(this.#work.int(0, s.heartbeatIntervalMs), () => this.#beatTimer(t));
      if (typeof t.plan.crashAt === 'number') this.#at(t.plan.crashAt, () => this.#crash(t, 'its time came'));
    }
    this.#at(s.heartbeatIntervalMs, () => this.#jtTick());
    for (const job of this.#jobs) {
      this.#at(job.plan.submitAtMs, () => this.#submit(job));
      if (job.plan.killAtMs !== undefined) this.#at(job.plan.killAtMs, () => this.#kill(job));
    }
    this.#putFiles();
    s.writes.forEach((w, k) => this.#at(w.atMs, () => this.#write(w, k)));
    const { decommission } = s;
    if (decommission) this.#at(decommission.atMs, () => this.#decommission(this.#trackers[decommission.index]!));
    const { balance } = s;
    if (balance) {
      this.#at(balance.atMs, () => this.#balance(true, balance.thresholdPercent));
      if (balance.stopAtMs !== undefined) this.#at(balance.stopAtMs, () => this.#balance(false, 0));
    }
    for (const at of s.jtRestartsAtMs) this.#at(at, () => this.#restartJobTracker());
    this.#afterStep();

    let doneAt: number | undefined;
    // Once every job is over, run on so drop_job actions go out and are checked, and, with a hung
    // tracker, past the hard deadline of its attempts: at most 10x the 4.1 s an honest one takes,
    // plus what sources may hold it up (lib/source_pace.ts): a reduce reads one output per map, a
    // map at most 3 blocks, both the job code (every block here is 321 bytes or less).
    const maxReads = Math.max(3, ...s.jobs.map((j) => j.maps)) + 1;
    const afterJobsMs = 3 * s.trackerExpiryMs +
      (s.trackers.some((t) => t.mode === 'hang') ? s.deadlineFloorMs + 42_000 + maxReads * sourceAllowanceMs(321) : 0);
    // The dfs settles after its last read or removal: reports audited, copies repaired, deletes delivered.
    // A dead client's blocks go once its lease lapses and a block report lists them.
    const writeEnds = s.writes.map((w) => w.atMs + (w.abandonAfter ?? w.blocks) * w.blockEveryMs + (w.stall?.ms ?? 0) + s.writeLeaseMs + 2 * s.blockReportMs);
    const dfsMoments = [...s.dfsReadsAtMs, ...s.dfs.flatMap((x) => [x.rmAtMs, x.setrep?.atMs].filter((m): m is number => m !== undefined)), ...writeEnds,
      ...(s.decommission ? [s.decommission.atMs] : []),
      // A balancing run ends within a few rounds of moves; one to a tracker that hangs takes a repair timeout.
      ...(s.balance ? [s.balance.atMs + kBalanceWithinMs] : [])];
    const dfsSettledAt = START + (dfsMoments.length ? Math.max(...dfsMoments) + 3 * s.trackerExpiryMs + 20_000 : 0);
    while (this.#violations.length === 0) {
      const e = this.#queue.pop();
      if (!e || e.at > limit) break;
      this.#now = e.at;
      if (++this.#events > kMaxEvents) {
        this.#violate('safety', 'sim-limit', `more than ${kMaxEvents} events`);
        break;
      }
      e.run();
      this.#afterStep();
      if (doneAt === undefined && this.#allJobsOver()) doneAt = this.#now;
      // And every block a file needs has its copies again (blacklisting, say, may have taken some late).
      // Not while a restarted job tracker waits for the trackers to come back (its safe mode), nor just after.
      const settled = this.#now >= dfsSettledAt && this.#now >= this.#restartedAt + 3 * s.trackerExpiryMs;
      if (doneAt !== undefined && this.#now - doneAt > afterJobsMs && settled && this.#dfsShort().length === 0) break;
    }
    this.#checkLiveness(limit);
    this.#checkJobDataDropped();
    this.#checkDfsLiveness();
    this.#checkBalanceOver();
    this.#checkHungNamed();
    const jobs = this.#jobs.filter((j) => j.id).map((j) => {
      const st = this.#core.job(j.id!, this.#now);
      return { id: j.id!, state: st.state, error: st.error, elapsedMs: st.elapsed_ms };
    });
    return {
      seed: s.seed,
      scenario: s,
      description: describeScenario(s),
      violations: this.#violations,
      livenessWaived: this.#livenessWaived(),
      jobs,
      refused: this.#jobs.flatMap((j) => (j.refused ? [j.refused] : [])),
      events: this.#events,
      simMs: this.#now - START,
      traceHash: this.#hash.digest('hex'),
    };
  }

  #at(delayMs: number, run: () => void): void {
    this.#queue.push(this.#now + delayMs, run);
  }

  #trace(line: string): void {
    const text = `${String(this.#now - START).padStart(7)} ${line}`;
    this.#hash.update(text + '\n');
    this.#opts.trace?.(text);
  }

  #violate(kind: Violation['kind'], property: Property, detail: string): void {
    this.#violations.push({ kind, property, detail, atMs: this.#now - START });
    this.#trace(`VIOLATION ${kind} ${property}: ${detail}`);
  }

  /** Calls the core; an exception from it is a broken invariant, reported as such. */
  #call<T>(what: string, fn: () => T): T | undefined {
    try {
      return fn();
    } catch (e) {
      if (isBftmrError(e, 'BFT_TOO_FEW_TRACKERS')) throw e;
      this.#violate('safety', 'core-invariant', `${what} threw: ${messageOf(e)}`);
      return undefined;
    }
  }

  // ---------------------------------------------------------------- the network

  /** The delay of one message, or undefined if it is lost. */
  #deliver(loss: number): number | undefined {
    const net = this.scenario.network;
    if (loss > 0 && this.#net.chance(loss)) return undefined;
    let d = this.#net.int(1, net.maxDelayMs);
    if (net.lateChance > 0 && this.#net.chance(net.lateChance)) d += this.#net.int(1, 3 * this.scenario.rpcDeadlineMs);
    return d;
  }

  // ---------------------------------------------------------------- the job tracker side

  #jtTick(): void {
    this.#call('tick', () => this.#core.tick(this.#now));
    this.#drainEffects();
    this.#at(this.scenario.heartbeatIntervalMs, () => this.#jtTick());
  }

  #submit(job: SimJob): void {
    const k = this.#jobs.indexOf(job);
    const ids = this.#trackers.map((t) => t.id);
    const spec = jobSpec(`sim job ${k}`, `/out/job${k}`, job.plan, this.scenario.f, ids, this.#work);
    try {
      const id = this.#call('submit', () => this.#core.submit(spec, this.#now));
      if (id === undefined) return;
      job.id = id;
      job.spec = spec;
      job.expected = referenceOutput(id, spec.output, job.plan.maps, job.plan.reduces);
      this.#trace(`submit ${id}: ${job.plan.maps} maps, ${job.plan.reduces} reduces, f=${spec.f}`);
      this.#drainEffects(); // as jobtracker/server.ts: the job's record is kept before the client has its id
    } catch (e) {
      // Fewer than 2f+1 live trackers in the core's view: a refusal the protocol asks for.
      job.refused = `job ${k}: ${(e as BftmrError).message}`;
      this.#trace(`submit refused: ${job.refused}`);
    }
  }

  /**
   * The job tracker is killed and started again, as jobtracker/server.ts starts: the namespace's
   * blocks are tracked again from what it recorded, and the job records restored; a job left
   * running succeeded if its output was recorded, and otherwise runs again (the 'rerun' effect).
   * Whatever the old one had in flight (audits, a commit not yet recorded) is gone with it.
   */
  #restartJobTracker(): void {
    const random = this.#restartRandom.fork();
    const core = new JobTrackerCore(this.#coreOpts, () => random.next(), this.#now);
    for (const [digest, b] of this.#persisted) core.trackBlock(digest, b.size, b.wanted, b.replicas, this.#now);
    const records = [...this.#records.values()].map((r) => structuredClone(r));
    const reruns: string[] = [];
    for (const r of records) {
      if (r.state !== 'RUNNING') continue;
      if (this.#jobs.find((j) => j.id === r.job_id)?.applied) r.state = 'SUCCEEDED';
      else reruns.push(r.job_id);
    }
    for (const r of records) this.#records.set(r.job_id, structuredClone(r));
    core.restoreVerdicts(this.#verdicts);
    core.restoreDecommissions(this.#leaving, this.#now);
    core.restoreJobs(records, reruns);
    this.#core = core;
    this.#restartedAt = this.#now;
    for (const id of this.#attempts.keys()) this.#launchedBeforeRestart.add(id);
    // Reads reported to the old one were never checked: a copy found bad is judged again when read again.
    this.#badCopies.clear();
    this.#trace(`jt: RESTART: ${this.#persisted.size} blocks, ${records.length} job records, ${reruns.length} to run again [${reruns.join(' ')}]`);
    this.#drainEffects();
  }

  /** As jobtracker/server.ts rerun(): the job is submitted again as it was, under a new id. */
  #rerun(oldId: string): void {
    const job = this.#jobs.find((j) => j.id === oldId);
    if (!job?.spec) {
      this.#violate('safety', 'core-invariant', `rerun of ${oldId}, which the simulator did not submit`);
      return;
    }
    try {
      const id = this.#call('submit', () => this.#core.submit({ ...job.spec!, rerunOf: oldId }, this.#now));
      if (id === undefined) return;
      this.#core.rerunSubmitted(oldId, id);
      job.pastIds.push(oldId);
      job.id = id;
      job.commit = undefined;
      job.applied = false;
      job.expected = referenceOutput(id, job.spec.output, job.plan.maps, job.plan.reduces);
      this.#trace(`rerun ${oldId} as ${id}`);
    } catch (e) {
      // Too few trackers came back to vote: as a refused submission.
      this.#core.rerunFailed(oldId, messageOf(e));
      job.refused = `job ${this.#jobs.indexOf(job)} (rerun of ${oldId}): ${messageOf(e)}`;
      this.#trace(`rerun refused: ${job.refused}`);
    }
  }

  #kill(job: SimJob): void {
    if (!job.id) return;
    try {
      const st = this.#core.kill(job.id, 'client sim', this.#now);
      job.killed = true;
      this.#trace(`kill ${job.id}: ${st.state}`);
    } catch (e) {
      // Over, or committing its output: a refusal the protocol allows.
      if (!isBftmrError(e, 'JOB_NOT_RUNNING')) this.#violate('safety', 'core-invariant', `kill of ${job.id} threw: ${messageOf(e)}`);
      else this.#trace(`kill ${job.id} refused: ${messageOf(e)}`);
    }
    this.#drainEffects();
  }

  #jtHeartbeat(t: SimTracker, n: number, req: HeartbeatRequest, sentAt: number): void {
    const alive = this.#core.trackers(this.#now).some((i) => i.tracker_id === t.id && i.alive);
    if (alive) {
      for (const rep of req.reports) {
        const facts = this.#attempts.get(rep.attempt_id);
        // A vote only if the core still runs the attempt there: the report of one it ended meanwhile
        // (its tracker was declared lost, then came back) is ignored, and the tracker may be given
        // the task again (seed 7001560).
        if (facts && rep.ok && !facts.killed && this.#coreRuns(facts.jobId, rep.attempt_id, t.id)) facts.voted = true;
        if (this.#lies.has(rep.attempt_id)) this.#liars.add(t.id);
      }
    }
    const reply = this.#call(`heartbeat of ${t.id}`, () => this.#core.heartbeat(req, this.#now));
    if (!reply) return;
    this.#trace(`jt<hb ${t.name}#${n} reports=[${req.reports.map(reportText).join(' ')}] -> ` +
      `${reply.reregister ? 'reregister' : `[${reply.actions.map(actionText).join(' ')}]`}`);
    for (const a of reply.actions) this.#checkAction(t, a);
    this.#drainEffects();
    const d = this.#deliver(this.scenario.network.lossReply);
    if (d === undefined || this.#now + d > sentAt + this.scenario.rpcDeadlineMs) {
      this.#trace(`jt>hb ${t.name}#${n} reply ${d === undefined ? 'lost' : 'too late'}`);
      return;
    }
    this.#at(d, () => this.#onReply(t, n, reply));
  }

  /** A tracker's address, and its host's cores when the trackers share one. */
  #where(t: SimTracker): { address: string; cores?: number } {
    const cores = this.scenario.sharedCores;
    return cores ? { address: `shared.sim:${7000 + t.index}`, cores } : { address: `${t.name}.sim:7000` };
  }

  #jtRegister(t: SimTracker, attempt: number, sentAt: number): void {
    const id = this.#call(`register of ${t.id}`, () =>
      this.#core.register({ tracker_id: t.id, ...this.#where(t), pid: 1000 + t.index, slots: t.plan.slots, fault: t.plan.mode,
        blocks: [...t.store.keys()].map((digest) => ({ digest })),
        block_ages_ms: [...t.store.keys()].map((d) => this.#now - (t.storedAt.get(d) ?? START)), clock_ms: t.clock(this.#now),
        jobs: [...new Set([...[...t.store.values()].flatMap((owners) => [...owners].filter((o) => o !== DFS)),
          ...[...t.running.values()].map((ra) => ra.launch.job_id)])] }, this.#now));
    if (id === undefined) return;
    if (id !== t.id) this.#violate('safety', 'core-invariant', `re-registration of ${t.id} gave it a new id ${id}`);
    const known = this.#core.trackers(this.#now).find((i) => i.tracker_id === t.id)?.verdicts.length ?? 0;
    const proven = this.#verdicts.get(t.id)?.length ?? 0;
    if (known < proven) this.#violate('safety', 'verdict-forgotten', `${t.name} registered with ${known} verdicts, and ${proven} were reached against it`);
    this.#drainEffects();
    const d = this.#deliver(this.scenario.network.lossReply);
    this.#trace(`jt<register ${t.name} #${attempt}${d === undefined ? ' (reply lost)' : ''}`);
    if (d !== undefined && this.#now + d <= sentAt + this.scenario.rpcDeadlineMs) this.#at(d, () => this.#onRegistered(t, attempt));
  }

  /** Carries out the core's effects, those they lead to included (a rerun's records, say). */
  #drainEffects(): void {
    for (let effects = this.#core.takeEffects(); effects.length; effects = this.#core.takeEffects()) this.#apply(effects);
  }

  #apply(effects: Effect[]): void {
    for (const e of effects) {
      if (e.type === 'log') {
        this.#trace(`jt: ${e.message}`);
        const lost = /^tracker (\S+) .*is lost$/.exec(e.message);
        const t = lost && this.#byId.get(lost[1]!);
        if (t?.up) this.#spuriouslyLost.add(t.id);
        continue;
      }
      if (e.type === 'audit') {
        // The adapter checks the copy itself; only bytes that do not match (or, for a dfs block,
        // "not held") are proof.
        const source = this.#byId.get(e.trackerId);
        const { matched, held, answered } = e.jobId ? { matched: !source?.up || !source.store.has(e.digest) || this.#servesGoodBytes(source), held: true, answered: true }
          : this.#dfsAudit(source, e.digest, !!e.routine);
        this.#trace(`jt: audit ${this.#name(e.trackerId)} ${e.digest.slice(0, 8)}${e.jobId ? '' : ` (${e.task})`} -> ` +
          `${!matched ? 'MISMATCH' : !held ? 'NOT HELD' : 'no proof'}`);
        const core = this.#core;
        this.#at(this.#work.int(1, 50), () => {
          if (core !== this.#core) return; // the job tracker that asked restarted meanwhile
          this.#call('auditResult', () => this.#core.auditResult(e, matched, this.#now, held, answered ?? true));
          this.#drainEffects();
        });
        continue;
      }
      if (e.type === 'replicas') {
        for (const c of e.changes) {
          this.#checkListed(c.digest, c.replicas);
          const b = this.#persisted.get(c.digest);
          if (b) b.replicas = [...c.replicas];
        }
        continue;
      }
      if (e.type === 'job') { this.#records.set(e.status.job_id, structuredClone(e.status)); continue; }
      if (e.type === 'forget') { this.#records.delete(e.jobId); continue; }
      if (e.type === 'rerun') { this.#rerun(e.jobId); continue; }
      if (e.type === 'verdict') {
        this.#verdicts.set(e.trackerId, [...(this.#verdicts.get(e.trackerId) ?? []), e.reason]);
        continue;
      }
      if (e.type === 'decommission') {
        if (e.on) this.#leaving.add(e.trackerId);
        else this.#leaving.delete(e.trackerId);
        continue;
      }
      const job = this.#jobs.find((j) => j.id === e.jobId);
      this.#trace(`jt: commit ${e.jobId} [${e.files.map((x) => `${x.digest.slice(0, 8)}@${x.replicas.map((r) => this.#name(r.tracker_id)).join('+')}`).join(' ')}]`);
      if (!job?.expected) {
        this.#violate('safety', 'commit-output', `commit of unknown job ${e.jobId}`);
        continue;
      }
      if (job.commit) this.#violate('safety', 'commit-twice', `${e.jobId} was committed twice`);
      if (job.killed) this.#violate('safety', 'commit-after-kill', `${e.jobId} was committed after it was killed`);
      job.commit = { jobId: e.jobId, files: e.files };
      for (const p of commitProblems(job.commit, job.expected, job.spec!.f, (id, d) => this.#byId.get(id)?.store.has(d) ?? false)) {
        this.#violate('safety', p.property, p.detail);
      }
      // The adapter records the output in the namespace, then tells the core.
      const core = this.#core;
      this.#at(this.#work.int(1, 50), () => {
        if (core !== this.#core) return; // the job tracker restarted before it recorded the output
        // As jobtracker/server.ts: the output's files become dfs files, their copies the f+1 agreeing ones.
        for (const file of e.files) {
          this.#persisted.set(file.digest, { size: file.size, wanted: file.replicas.length, replicas: file.replicas.map((r) => r.tracker_id) });
          this.#call('trackBlock', () => this.#core.trackBlock(file.digest, file.size, file.replicas.length, file.replicas.map((r) => r.tracker_id), this.#now));
          this.#files.push({ name: file.path, blocks: [file.digest], removed: false });
        }
        this.#call('committed', () => this.#core.committed(e.jobId, this.#now));
        job.applied = true;
        this.#trace(`jt: ${e.jobId} recorded in the namespace`);
        this.#drainEffects();
      });
    }
  }

  /** Checks one action the core sends, at the moment it decides it (whether or not it arrives). */
  #checkAction(t: SimTracker, a: TaskAction): void {
    const launch = 'launch_map' in a ? a.launch_map : 'launch_reduce' in a ? a.launch_reduce : undefined;
    if (launch) {
      const isMap = 'map_index' in launch;
      // (A reply that never arrived is sent again, launches and all, followed by their kills: not a new launch.)
      if (!this.#attempts.has(launch.attempt_id) && this.#jobs.find((j) => j.id === launch.job_id)?.killed) {
        this.#violate('safety', 'launch-after-kill', `${launch.attempt_id} was launched after its job was killed`);
      }
      const task = `${launch.job_id}/${isMap ? `m${launch.map_index}` : `r${launch.partition}`}`;
      // A second attempt on one tracker is fine only if its earlier one no longer has a vote:
      // it failed, or it is a reduce that used a map output the vote went against. The same
      // attempt sent again (its reply was lost) is not a second attempt.
      for (const [id, prev] of this.#attempts) {
        if (id === launch.attempt_id) continue;
        if (prev.task !== task || prev.trackerId !== t.id || !prev.voted || this.#staleReduce(prev)) continue;
        this.#violate('safety', 'double-vote', `${t.id} was given ${launch.attempt_id} of ${task} though its ${id} voted on it`);
      }
      if (!this.#attempts.has(launch.attempt_id)) this.#attempts.set(launch.attempt_id, {
        trackerId: t.id, jobId: launch.job_id, task, voted: false, killed: false,
        partition: isMap ? undefined : launch.partition,
        sources: isMap ? undefined : launch.sources.map((s) => ({ mapIndex: s.map_index, digest: s.digest })),
      });
    }
    if ('kill_attempt' in a) {
      // The core decided the kill before it read this heartbeat's reports (a kill only targets a
      // running attempt), so a report of the same attempt in this heartbeat was not counted.
      const facts = this.#attempts.get(a.kill_attempt);
      if (facts) {
        facts.killed = true;
        facts.voted = false;
      }
    }
    if ('delete_blocks' in a) this.#checkDelete(t, a.delete_blocks.digests);

  }

  /** Whether the core has `attemptId` running on `trackerId` (so a report of it now counts). */
  #coreRuns(jobId: string, attemptId: string, trackerId: string): boolean {
    try {
      return this.#core.attempts(jobId).some((a) => a.attempt_id === attemptId && a.tracker_id === trackerId && a.outcome === 'running');
    } catch {
      return false; // a job the core no longer runs (its attempts were not kept across a restart)
    }
  }

  /** A reduce attempt fed a map output other than the honest one: the core must discard it. */
  #staleReduce(a: AttemptFacts): boolean {
    return !!a.sources?.some((s) => s.digest !== honestMapDigest(a.jobId, s.mapIndex, a.partition!));
  }

  /** The checks that hold at every step. */
  #afterStep(): void {
    if (this.#violations.length) return;
    const statuses = this.#core.jobs(this.#now);
    const trackers = this.#core.trackers(this.#now);
    let verdicts = 0;
    for (const info of trackers) verdicts += info.verdicts.length;
    for (const st of statuses) {
      verdicts += st.verdicts.length;
      const job = this.#jobs.find((j) => j.id === st.job_id);
      if (st.state === 'SUCCEEDED' && !job?.applied) this.#violate('safety', 'succeeded-without-commit', `${st.job_id} is SUCCEEDED but its commit was never applied`);
    }
    // Verdicts only grow: look at them again only when there are new ones.
    if (verdicts === this.#verdictsSeen) return;
    this.#verdictsSeen = verdicts;
    for (const st of statuses) {
      for (const v of st.verdicts) this.#checkVerdict(v.tracker_id, `${st.job_id}: ${v.reason}`);
    }
    for (const info of trackers) {
      for (const reason of info.verdicts) this.#checkVerdict(info.tracker_id, reason);
    }
  }

  #checkVerdict(trackerId: string, reason: string): void {
    if (this.#liars.has(trackerId)) return;
    const t = this.#byId.get(trackerId);
    // Holding an attempt past the hard deadline is a fault of hung and slow trackers only.
    if (/missed the deadline/.test(reason) && (t?.plan.mode === 'hang' || t?.plan.mode === 'slow')) return;
    this.#violate('safety', 'verdict-against-truthful',
      `${trackerId} (${t ? `${t.name}, ${t.plan.mode}` : 'unknown'}) never reported a wrong digest, yet: ${reason}`);
  }

  #allJobsOver(): boolean {
    return this.#jobs.every((j) => {
      if (j.refused) return true;
      if (!j.id) return false;
      const state = this.#core.job(j.id, this.#now).state;
      return state === 'FAILED' || state === 'KILLED' || (state === 'SUCCEEDED' && j.applied);
    });
  }

  #livenessWaived(): string | undefined {
    const faulty = new Set(this.scenario.faulty.map((i) => this.#trackers[i]!.id));
    for (const id of this.#spuriouslyLost) faulty.add(id);
    if (faulty.size <= this.scenario.f) return undefined;
    const names = [...faulty].map((id) => `${this.#name(id)}${this.#spuriouslyLost.has(id) ? '(lost by the network)' : ''}`);
    return `${faulty.size} trackers behaved as faulty (${names.join(', ')}), more than f=${this.scenario.f}`;
  }

  #checkLiveness(limit: number): void {
    if (this.#violations.length || this.#livenessWaived()) return;
    for (const job of this.#jobs) {
      if (job.refused) continue;
      if (!job.id) {
        this.#violate('liveness', 'job-stuck', `job ${this.#jobs.indexOf(job)} was never submitted`);
        continue;
      }
      const st = this.#core.job(job.id, this.#now);
      if (st.state === 'SUCCEEDED' || (st.state === 'KILLED' && job.killed)) continue;
      if (st.state === 'FAILED') {
        this.#violate('liveness', 'job-failed', `${job.id} failed with at most f=${st.f} faulty trackers: ${st.error_code}: ${st.error}`);
      } else {
        this.#violate('liveness', 'job-stuck',
          `${job.id} still ${st.state} after ${(limit - START) / 1000}s: maps ${st.maps_decided}/${st.maps_total} decided ` +
          `(${st.maps_reported} reported, ${st.map_attempts} attempts), reduces ${st.reduces_decided}/${st.reduces_total} decided ` +
          `(${st.reduces_reported} reported, ${st.reduce_attempts} attempts)`);
      }
    }
  }

  /**
   * A hung tracker holds its attempts for ever, so it must end up named for a missed deadline
   * (the run lasts past every deadline, see afterJobsMs). Not judged when a slow tracker's long
   * attempts may have pushed the median, and so the deadline, past the end of the run.
   */
  #checkHungNamed(): void {
    if (this.#violations.length || this.#trackers.some((t) => t.plan.mode === 'slow')) return;
    const named = new Map(this.#core.trackers(this.#now).map((i) => [i.tracker_id, i.verdicts]));
    // Attempts of a job a user killed are not judged: the job is over before any deadline; nor
    // those a job tracker launched before it restarted: its verdicts went with it.
    const killed = new Set(this.#jobs.filter((j) => j.killed).map((j) => j.id));
    for (const t of this.#trackers) {
      const held = [...t.started].filter((id) => !killed.has(this.#attempts.get(id)?.jobId) && !this.#launchedBeforeRestart.has(id));
      if (t.plan.mode !== 'hang' || !t.up || held.length === 0) continue;
      if (!named.get(t.id)?.some((v) => /missed the deadline/.test(v))) {
        this.#violate('liveness', 'hung-not-named', `${t.name} held ${held.length} attempts without reporting and was never named`);
      }
    }
  }

  #name(trackerId: string): string {
    return this.#byId.get(trackerId)?.name ?? trackerId;
  }

  // ---------------------------------------------------------------- the task tracker side

  #beatTimer(t: SimTracker): void {
    if (!t.up) return;
    this.#beat(t);
    const interval = this.scenario.heartbeatIntervalMs;
    const jitter = Math.floor(interval / 10);
    this.#at(interval + this.#work.int(-jitter, jitter), () => this.#beatTimer(t));
  }

  /** As the real tracker: one heartbeat in flight; asking for another meanwhile sends it right after. */
  #beat(t: SimTracker): void {
    if (!t.up || t.registering) return;
    if (t.inflight) {
      t.again = true;
      return;
    }
    const n = ++t.heartbeats;
    const reports = t.queue.splice(0);
    const repairsDone = t.repairsDone.splice(0);
    const deleted = t.deleted.splice(0);
    t.inflight = { n, reports, repairsDone, deleted };
    const req: HeartbeatRequest = {
      tracker_id: t.id, free_slots: Math.max(0, t.plan.slots - t.running.size), reports, running: [...t.running.keys()],
      last_response_id: t.lastResponseId, replications: repairsDone, deleted_blocks: deleted, clock_ms: t.clock(this.#now),
    };
    // Now and then, as tasktracker/server.ts: every dfs block held, with its age.
    if (this.#now >= t.nextBlockReportMs) {
      t.nextBlockReportMs = this.#now + this.scenario.blockReportMs;
      req.block_report = [...t.store].filter(([, owners]) => owners.has(DFS)).map(([digest]) => ({ digest, age_ms: this.#now - (t.storedAt.get(digest) ?? START) }));
      t.inflight.blockReport = true;
    }
    const sentAt = this.#now;
    this.#at(this.scenario.rpcDeadlineMs, () => this.#onTimeout(t, n));
    const d = this.#deliver(this.scenario.network.lossRequest);
    const dfs = repairsDone.length + deleted.length ? `, repairs [${repairsDone.map((r) => `${r.digest.slice(0, 8)}:${r.ok ? 'ok' : 'failed'}`).join(' ')}]` +
      `, ${deleted.length} deleted` : '';
    this.#trace(`${t.name}>hb #${n} ${reports.length} reports${dfs}${d === undefined ? ' (lost)' : ''}`);
    if (d !== undefined) this.#at(d, () => this.#jtHeartbeat(t, n, req, sentAt));
  }

  #onTimeout(t: SimTracker, n: number): void {
    if (!t.up || t.inflight?.n !== n) return;
    // Nothing lost: the reports go with the next heartbeat.
    t.queue = [...t.inflight.reports, ...t.queue];
    t.repairsDone = [...t.inflight.repairsDone, ...t.repairsDone];
    t.deleted = [...t.inflight.deleted, ...t.deleted];
    if (t.inflight.blockReport) t.nextBlockReportMs = 0; // it goes again with the next one
    t.inflight = undefined;
    this.#trace(`${t.name} hb #${n} timed out`);
    if (t.again) {
      t.again = false;
      this.#beat(t);
    }
  }

  #onReply(t: SimTracker, n: number, reply: HeartbeatReply): void {
    if (!t.up || t.inflight?.n !== n) return;
    t.inflight = undefined; // acknowledged: its reports are delivered
    if (reply.reregister) {
      t.lastResponseId = 0;
      t.repairs.clear(); // a new session: a restarted job tracker numbers its repairs from 1 again
      this.#register(t, 1);
      return;
    }
    t.lastResponseId = reply.response_id ?? 0;
    for (const a of reply.actions) {
      if (!t.up) return;
      this.#act(t, a);
    }
    if (t.again) {
      t.again = false;
      this.#beat(t);
    }
  }

  #register(t: SimTracker, attempt: number): void {
    if (!t.up) return;
    t.registering = true;
    t.again = false;
    const d = this.#deliver(this.scenario.network.lossRequest);
    this.#trace(`${t.name}>register #${attempt}${d === undefined ? ' (lost)' : ''}`);
    const sentAt = this.#now;
    if (d !== undefined) this.#at(d, () => this.#jtRegister(t, attempt, sentAt));
    this.#at(this.scenario.rpcDeadlineMs, () => {
      if (t.up && t.registering && this.#registerAttempt.get(t) === attempt) this.#register(t, attempt + 1);
    });
    this.#registerAttempt.set(t, attempt);
  }

  #onRegistered(t: SimTracker, attempt: number): void {
    if (!t.up || !t.registering || this.#registerAttempt.get(t) !== attempt) return;
    t.registering = false;
    this.#registerAttempt.delete(t);
    t.nextBlockReportMs = this.#now + this.scenario.blockReportMs;
    this.#trace(`${t.name} registered again`);
    this.#beat(t);
  }

  #crash(t: SimTracker, why: string): void {
    if (!t.up) return;
    t.up = false;
    t.running.clear();
    t.inflight = undefined;
    this.#trace(`${t.name} crashes (${why})`);
  }

  #act(t: SimTracker, a: TaskAction): void {
    if ('launch_map' in a || 'launch_reduce' in a) {
      if (t.plan.crashAt === 'first-task') {
        this.#crash(t, 'on its first task');
        return;
      }
      const launch = 'launch_map' in a ? a.launch_map : a.launch_reduce;
      // Replayed after a lost reply (already running or done), or of a job that is over here.
      if (t.started.has(launch.attempt_id) || t.droppedJobs.has(launch.job_id)) return;
      t.started.add(launch.attempt_id);
      const ra: RunningAttempt = { launch };
      t.running.set(launch.attempt_id, ra);
      if (t.plan.mode === 'hang') return; // holds the slot, never reports
      // A map's time grows with its split (a fixed part plus 15-30 ms per MB), as lateness and
      // deadlines assume; a reduce's does not depend on anything the core knows.
      const base = 'sources' in launch ? this.#work.int(50, 3000) : this.#work.int(50, 300) + Math.round(launch.length / MB * this.#work.int(15, 30));
      const duration = base + (t.plan.slowMs ?? 0);
      if ('sources' in launch) {
        const fetchMs = this.#work.int(1, 40);
        this.#at(fetchMs, () => this.#fetch(t, ra));
        this.#at(fetchMs + duration, () => this.#finishReduce(t, ra));
      } else {
        this.#at(duration, () => this.#finishMap(t, ra));
      }
    } else if ('kill_attempt' in a) {
      // A hung tracker ignores kills too (as the real one does): it keeps listing the attempt.
      if (t.plan.mode !== 'hang') t.running.delete(a.kill_attempt);
    } else if ('replicate_block' in a) {
      const r = a.replicate_block;
      if (t.repairs.has(r.repair_id)) return; // replayed after a lost reply
      t.repairs.add(r.repair_id);
      this.#at(this.#work.int(5, 500), () => this.#repair(t, r));
    } else if ('delete_blocks' in a) {
      // As the real store's release: only the dfs's hold goes; a job's data stays until its drop_job;
      // a copy stored after the request the core decided on stays (it may be a write's).
      const storedBy = a.delete_blocks.unless_stored_after_ms || Infinity;
      for (const d of a.delete_blocks.digests) {
        if (t.clock(t.storedAt.get(d) ?? START) > storedBy) {
          this.#trace(`${t.name} keeps block ${d.slice(0, 8)}: stored again after the delete was decided`);
          continue;
        }
        const owners = t.store.get(d);
        owners?.delete(DFS);
        if (owners?.size === 0) {
          t.store.delete(d);
          t.dropped.delete(d);
        }
      }
      t.deleted.push(...a.delete_blocks.digests);
    } else if ('drop_job' in a) {
      // As the real tracker: the job's attempts still running stop (a hung one ignores that too).
      t.droppedJobs.add(a.drop_job.job_id);
      for (const [id, ra] of t.running) if (ra.launch.job_id === a.drop_job.job_id && t.plan.mode !== 'hang') t.running.delete(id);
      for (const d of a.drop_job.keep) t.addOwner(d, DFS, this.#now);
      for (const [d, owners] of t.store) {
        owners.delete(a.drop_job.job_id);
        if (owners.size > 0) continue;
        t.store.delete(d);
        // The copy is gone: it must not be one the core counts on.
        const h = this.#core.blockHealth(d);
        if (h && (h.live.includes(t.id) || h.dead.includes(t.id))) {
          this.#violate('safety', 'drop-committed-output', `${t.name} dropped its copy of ${d.slice(0, 8)}, which the core lists there`);
        }
      }
    }
  }

  #current(t: SimTracker, ra: RunningAttempt): boolean {
    return t.up && t.running.get(ra.launch.attempt_id) === ra;
  }

  #report(t: SimTracker, ra: RunningAttempt, rep: AttemptReport, lie: boolean): void {
    t.running.delete(ra.launch.attempt_id);
    if (lie) this.#lies.add(rep.attempt_id);
    t.queue.push(rep);
    this.#trace(`${t.name} ${reportText(rep)}${lie ? ' (a lie)' : ''}`);
    this.#beat(t); // a heartbeat goes out at once when an attempt ends
  }

  #finishMap(t: SimTracker, ra: RunningAttempt): void {
    if (!this.#current(t, ra)) return;
    const m = ra.launch as LaunchMap;
    const plan = t.plan;
    const honest = Array.from({ length: Math.max(1, m.num_reduces) }, (_, p) => honestMapDigest(m.job_id, m.map_index, p));
    const wrong = (p: number) => plan.corruptPartitions?.includes(p) ?? false;
    // What it computed and stores...
    const stored = honest.map((d, p) => {
      if (plan.mode === 'corrupt-map' && wrong(p)) return sha256(`corrupt/${t.id}/${d}`);
      if (plan.mode === 'collude' && wrong(p)) return sha256(`collusion/${d}`);
      return d;
    });
    // ...and what it says it computed.
    const reported = plan.mode === 'lie-digest' ? stored.map((d) => sha256(d + t.id)) : stored;
    const sizes = honest.map((_, p) => honestMapSize(m.map_index, p) + (stored[p] === honest[p] ? 0 : 1));
    for (const d of stored) t.hold(d, m.job_id, this.#now);
    const lie = reported.some((d, p) => d !== honest[p]);
    this.#report(t, ra, okReport(m.attempt_id, reported, sizes, t.plan.slowMs), lie);
  }

  /** A reduce fetches each input and verifies it against the digest it was told, as the real one does. */
  #fetch(t: SimTracker, ra: RunningAttempt): void {
    if (!this.#current(t, ra)) return;
    const r = ra.launch as LaunchReduce;
    const inputs: string[] = [];
    const sources = [...r.sources].sort((a, b) => a.map_index - b.map_index);
    for (const s of sources) {
      const bad = t.plan.mode === 'blame-sources' ? 'it says so' : this.#fetchProblem(t, s.digest, s.location.tracker_id);
      if (bad) {
        this.#report(t, ra, {
          ...okReport(r.attempt_id, [], [], undefined),
          ok: false,
          error: `map output ${s.digest.slice(0, 12)} of map ${s.map_index} from ${s.location.tracker_id}: ${bad}`,
          bad_source_tracker: s.location.tracker_id,
          bad_source_digest: s.digest,
        }, false);
        return;
      }
      t.hold(s.digest, r.job_id, this.#now);
      inputs.push(s.digest);
    }
    ra.inputs = inputs;
  }

  /** Why reading block `digest` from `sourceId` fails, if it does. */
  #fetchProblem(reader: SimTracker, digest: string, sourceId: string): string | undefined {
    if (reader.store.has(digest)) return undefined; // a local copy, as the real #block prefers
    const source = this.#byId.get(sourceId);
    if (!source || !source.up) return 'unavailable';
    if (!source.store.has(digest)) return 'not held there';
    if (!this.#servesGoodBytes(source)) return 'digest mismatch';
    return undefined;
  }

  /** One read from `source` (serve-corrupt never serves good bytes, equivocate every other time). */
  #servesGoodBytes(source: SimTracker): boolean {
    const n = source.reads++;
    const bad = source.plan.mode === 'serve-corrupt' || (source.plan.mode === 'equivocate' && n % 2 === 1);
    if (bad) this.#liars.add(source.id); // serving bad bytes is lying: a verdict for it is deserved
    return !bad;
  }

  // ---------------------------------------------------------------- the dfs

  /** The planned files, put at the start: each block on `replication` trackers, which passed the writer's check. */
  #putFiles(): void {
    const s = this.scenario;
    s.dfs.forEach((plan, k) => {
      const file: SimFile = { name: `/data/file${k}`, blocks: [], removed: false };
      for (let i = 0; i < plan.blocks; i++) {
        const digest = sha256(`dfs/${s.seed}/${k}/${i}`);
        const holders = this.#trackers.map((t) => ({ t, k: this.#dfsRng.next() })).sort((a, b) => a.k - b.k)
          .slice(0, plan.replication).map(({ t }) => t);
        for (const t of holders) t.hold(digest, DFS, this.#now);
        file.blocks.push(digest);
        this.#persisted.set(digest, { size: 64 * MB, wanted: plan.replication, replicas: holders.map((t) => t.id) });
        this.#call('trackBlock', () => this.#core.trackBlock(digest, 64 * MB, plan.replication, holders.map((t) => t.id), this.#now));
      }
      this.#files.push(file);
      this.#trace(`put ${file.name}: ${file.blocks.map((d) => d.slice(0, 8)).join(' ')} (replication ${plan.replication})`);
      if (plan.rmAtMs !== undefined) this.#at(plan.rmAtMs, () => this.#removeFile(file));
      const { setrep } = plan;
      if (setrep) this.#at(setrep.atMs, () => this.#setReplication(file, setrep.replication));
    });
    this.#drainEffects();
    for (const t of this.#trackers) {
      if (t.plan.lieAtMs !== undefined) this.#at(t.plan.lieAtMs, () => this.#startLying(t));
    }
    for (const at of s.dfsReadsAtMs) this.#at(at, () => this.#readAll());
  }

  /**
   * A put while the cluster runs, as dfs/client.ts does it: a lease renewed every quarter of its
   * length, blocks stored one by one on up trackers that pass the writer's check, then the file
   * created and the lease released. A client that dies stops renewing and creates nothing.
   */
  #write(w: WritePlan, k: number): void {
    const s = this.scenario;
    const lease = `sim-client/w${k}`;
    const startedAt = this.#now;
    let over = false;
    let cutUntil = -Infinity;
    // As dfs/client.ts: the lease is lost once a renewal is refused, or when renewals got through
    // more than a lease apart (a job tracker restarted meanwhile does not know it lapsed).
    const client = { lastOkMs: startedAt, lost: false };
    const renew = () => {
      if (over || client.lost) return;
      if (this.#now >= cutUntil) {
        try {
          this.#core.renewWriteLease(lease, this.#now - startedAt, this.#now);
          if (this.#now - client.lastOkMs > s.writeLeaseMs) client.lost = true;
          client.lastOkMs = this.#now;
        } catch (e) {
          if (!isBftmrError(e, 'DFS_LEASE_LAPSED')) this.#violate('safety', 'core-invariant', `renewWriteLease threw: ${messageOf(e)}`);
          client.lost = true;
        }
        if (client.lost) this.#trace(`the lease ${lease} lapsed`);
      }
      this.#at(Math.max(1, Math.floor(s.writeLeaseMs / 4)), renew);
    };
    renew();
    const file: SimFile = { name: `/data/write${k}`, blocks: [], removed: false };
    const holders = new Map<string, SimTracker[]>();
    const step = (i: number) => {
      if (w.abandonAfter === i) {
        over = true;
        for (const d of file.blocks) this.#abandoned.add(d);
        this.#trace(`the client of ${file.name} dies after ${i} blocks`);
        return;
      }
      if (w.stall?.afterBlock === i) {
        cutUntil = this.#now + w.stall.ms;
        this.#trace(`the client of ${file.name} is cut off from the job tracker for ${w.stall.ms} ms`);
      }
      if (i === w.blocks) {
        over = true;
        if (this.#now < cutUntil) this.#at(cutUntil - this.#now, () => this.#createWritten(file, holders, w.replication, lease, client));
        else this.#createWritten(file, holders, w.replication, lease, client);
        return;
      }
      const digest = sha256(`write/${s.seed}/${w.sameAs ?? k}/${i}`);
      // Where AllocateBlock sends copies (usable trackers); liars lying already fail the writer's
      // check, and the client places the copy elsewhere.
      const usable = new Set(this.#core.liveTrackers().map((x) => x.id));
      const fit = this.#trackers.filter((t) => t.up && !t.lying && usable.has(t.id));
      if (fit.length < w.replication) {
        over = true;
        this.#call('releaseWriteLease', () => this.#core.releaseWriteLease(lease, this.#now));
        for (const d of [...file.blocks, digest]) this.#abandoned.add(d);
        for (const t of fit) t.hold(digest, DFS, this.#now);
        this.#trace(`put ${file.name} fails: ${fit.length} trackers can take block ${i}`);
        return;
      }
      const on = fit.map((t) => ({ t, r: this.#writeRng.next() })).sort((a, b) => a.r - b.r).slice(0, w.replication).map((x) => x.t);
      for (const t of on) t.hold(digest, DFS, this.#now);
      file.blocks.push(digest);
      holders.set(digest, on);
      this.#trace(`put ${file.name}: block ${i} ${digest.slice(0, 8)} on ${on.map((t) => t.name).join(',')}`);
      this.#at(w.blockEveryMs, () => step(i + 1));
    };
    this.#at(w.blockEveryMs, () => step(0));
  }

  /** The last block of a put is stored: every copy must still be there (nothing collected it), then the file is created. */
  #createWritten(file: SimFile, holders: Map<string, SimTracker[]>, replication: number, lease: string,
    client: { lastOkMs: number; lost: boolean }): void {
    try {
      if (client.lost || this.#now - client.lastOkMs > this.scenario.writeLeaseMs) throw new BftmrError('DFS_LEASE_LAPSED', 'the client saw it lapse');
      this.#core.checkWriteLease(lease, this.#now);
      this.#core.checkNewFile(file.name, [...holders].map(([d, on]) => ({ digest: d, replicas: on.map((t) => t.id) })), lease, this.#now);
    } catch (e) {
      if (!isBftmrError(e, 'DFS_LEASE_LAPSED') && !isBftmrError(e, 'DFS_NO_REPLICA')) this.#violate('safety', 'core-invariant', `CreateFile threw: ${messageOf(e)}`);
      // CreateFile is refused: the put fails, and what it stored is garbage.
      this.#call('releaseWriteLease', () => this.#core.releaseWriteLease(lease, this.#now));
      for (const d of holders.keys()) this.#abandoned.add(d);
      this.#trace(`put ${file.name} refused: ${messageOf(e)}`);
      return;
    }
    for (const [d, on] of holders) {
      // The file is created: each block must still have a good copy, on a tracker the put stored
      // it on or one the core lists (blocks are shared by content: a trim of another file's
      // copies may take the put's, but never all of them).
      const listed = this.#core.blockHealth(d)?.live ?? [];
      if (!on.some((t) => t.goodCopy(d)) && !listed.some((id) => this.#byId.get(id)?.goodCopy(d))) {
        this.#violate('safety', 'dfs-write-lost', `${file.name} is created, but no tracker holds a good copy of its block ${d.slice(0, 8)}`);
      }
      this.#persisted.set(d, { size: 64 * MB, wanted: replication, replicas: on.map((t) => t.id) });
      this.#call('trackBlock', () => this.#core.trackBlock(d, 64 * MB, replication, on.map((t) => t.id), this.#now, this.#core.writeBegunBeforeStart(lease)));
    }
    this.#call('releaseWriteLease', () => this.#core.releaseWriteLease(lease, this.#now));
    for (const d of holders.keys()) this.#abandoned.delete(d); // a put of the same bytes as one that died
    this.#files.push(file);
    this.#trace(`put ${file.name} created: ${file.blocks.map((d) => d.slice(0, 8)).join(' ')} (replication ${replication})`);
    this.#drainEffects();
  }

  /** `bftmr dfs balance`, or (`on` false) Ctrl-C on it: on the job tracker running then. */
  #balance(on: boolean, thresholdPercent: number): void {
    this.#call('balance', () => this.#core.balance(on, thresholdPercent, this.#now));
    if (on) this.#balanceStartedAt = this.#now;
    this.#trace(`operator: ${on ? `balance the dfs to within ${thresholdPercent}%` : 'stop balancing'}`);
    this.#drainEffects();
  }

  /** `bftmr cluster decommission`: then, once the core says it may, the operator stops the tracker. */
  #decommission(t: SimTracker): void {
    if (!t.up) return;
    // A restarted job tracker knows a tracker once it registers again: the operator tries again.
    if (!this.#core.trackers(this.#now).some((i) => i.tracker_id === t.id)) {
      this.#at(1_000, () => this.#decommission(t));
      return;
    }
    this.#call('decommission', () => this.#core.decommission(t.id, true, this.#now));
    this.#trace(`operator: decommission ${t.name}`);
    this.#drainEffects();
    const poll = () => {
      if (!t.up) return;
      const left = this.#call('decommissionLeft', () => this.#core.decommissionLeft(t.id, this.#now));
      if (left === 0) this.#crash(t, 'decommissioned: the operator stops it');
      else this.#at(1_000, poll);
    };
    this.#at(1_000, poll);
  }

  #startLying(t: SimTracker): void {
    if (!t.up) return;
    t.lying = true;
    if (t.plan.mode === 'drop-blocks') for (const [d, owners] of t.store) if (owners.has(DFS)) t.dropped.add(d);
    this.#trace(`${t.name} starts to ${t.plan.mode === 'drop-blocks' ? 'lose' : 'corrupt'} its dfs blocks`);
  }

  /** `dfs setrep`: as jobtracker/server.ts, each block's wanted copies change (no block is shared here). */
  #setReplication(file: SimFile, replication: number): void {
    if (file.removed) return;
    this.#trace(`setrep ${replication} ${file.name}`);
    for (const d of file.blocks) {
      const b = this.#persisted.get(d);
      if (b) b.wanted = replication;
      this.#call('trackBlock', () => this.#core.trackBlock(d, 64 * MB, replication, [], this.#now));
    }
    this.#drainEffects();
  }

  #removeFile(file: SimFile): void {
    file.removed = true;
    this.#trace(`rm ${file.name}`);
    for (const d of file.blocks) {
      this.#persisted.delete(d);
      this.#call('forgetBlock', () => this.#core.forgetBlock(d));
    }
    this.#drainEffects();
  }

  /**
   * One read of a dfs block from `t`, as a reader sees it: good bytes, or why not. Serving bad
   * bytes, or denying a block it claims, marks a liar.
   */
  #readCopy(t: SimTracker, digest: string): 'good' | 'unavailable' | 'not held' | 'bad bytes' {
    if (!t.up) return 'unavailable';
    if (!t.store.has(digest)) return 'not held';
    if (t.dropped.has(digest)) {
      this.#liars.add(t.id);
      return 'not held';
    }
    if (t.lying && t.plan.mode === 'corrupt-blocks') {
      this.#liars.add(t.id);
      return 'bad bytes';
    }
    return this.#servesGoodBytes(t) ? 'good' : 'bad bytes';
  }

  /**
   * A client reads every file: each block from its listed copies in turn, until one is good;
   * each copy that was not is reported (DfsClient.#reportBad).
   */
  #readAll(): void {
    for (const file of this.#files) {
      if (file.removed) continue;
      for (const d of file.blocks) {
        const health = this.#core.blockHealth(d);
        const listed = health ? [...health.live, ...health.dead] : [];
        const tried: string[] = [];
        let ok = false;
        for (const id of listed) {
          const t = this.#byId.get(id);
          if (!t) continue;
          const got = this.#readCopy(t, d);
          tried.push(`${t.name}:${got}`);
          if (got === 'good') { ok = true; break; }
          if (got === 'unavailable') continue;
          if (got === 'bad bytes' && !(t.plan.mode === 'equivocate')) this.#noteBad(d, t.id);
          if (got === 'not held') this.#noteBad(d, t.id);
          this.#call('reportBadReplica', () => this.#core.reportBadReplica(t.id, d, 'client', this.#now));
        }
        this.#trace(`read ${file.name} ${d.slice(0, 8)}: ${ok ? 'ok' : 'FAILED'} [${tried.join(' ')}]`);
      }
    }
    this.#drainEffects();
  }

  #noteBad(digest: string, trackerId: string): void {
    let s = this.#badCopies.get(digest);
    if (!s) this.#badCopies.set(digest, (s = new Set()));
    s.add(trackerId);
  }

  /**
   * The job tracker's check of a dfs copy (jobtracker/block_audit.ts): a routine audit may use a
   * challenge, which serve-corrupt and equivocate answer from the bytes they hold; an accused copy
   * is fetched as readers fetch it.
   */
  #dfsAudit(t: SimTracker | undefined, digest: string, routine: boolean): { matched: boolean; held: boolean; answered?: boolean } {
    if (!t?.up) return { matched: true, held: true, answered: false }; // no answer: no proof
    if (routine && !t.dropped.has(digest) && !(t.lying && t.plan.mode === 'corrupt-blocks')) {
      return { matched: true, held: t.store.has(digest) };
    }
    const got = this.#readCopy(t, digest);
    return { matched: got !== 'bad bytes', held: got !== 'not held' };
  }

  /** A repair: pull the block from the sources in turn (each verified), as tasktracker/block_service.ts pullBlock. */
  #repair(t: SimTracker, r: NonNullable<Extract<TaskAction, { replicate_block: unknown }>['replicate_block']>): void {
    if (!t.up) return;
    let result: ReplicationResult;
    if (t.plan.mode === 'blame-sources') {
      // Its word against every source: the core must check them, not believe it.
      result = { repair_id: r.repair_id, digest: r.digest, ok: false, error: 'it says so', bad_sources: r.sources.map((x) => x.tracker_id) };
    } else if (t.store.get(r.digest)?.has(DFS)) {
      t.addOwner(r.digest, DFS, this.#now); // pullBlock finds it held
      result = { repair_id: r.repair_id, digest: r.digest, ok: true, error: '', bad_sources: [] };
    } else {
      const bad: string[] = [];
      let ok = false;
      for (const src of r.sources) {
        const source = this.#byId.get(src.tracker_id);
        const got = source ? this.#readCopy(source, r.digest) : 'unavailable';
        if (got === 'good') { ok = true; break; }
        if (got !== 'unavailable') bad.push(src.tracker_id);
      }
      if (ok) t.hold(r.digest, DFS, this.#now);
      result = { repair_id: r.repair_id, digest: r.digest, ok, error: ok ? '' : 'no source delivered verified bytes', bad_sources: bad };
    }
    this.#trace(`${t.name} repair ${r.repair_id} of ${r.digest.slice(0, 8)}: ${result.ok ? 'copied' : `failed (${result.error})`}` +
      `${result.bad_sources.length ? `, accuses ${result.bad_sources.map((x) => this.#name(x)).join(',')}` : ''}`);
    t.repairsDone.push(result);
    this.#beat(t);
  }

  /** The core's list of a block's copies changed: an up tracker that deals honestly with its copies must hold it. */
  #checkListed(digest: string, replicas: string[]): void {
    for (const id of replicas) {
      const t = this.#byId.get(id);
      if (t?.up && t.storageHonest && !t.store.has(digest)) {
        this.#violate('safety', 'dfs-listed-not-held', `${t.name} is listed for block ${digest.slice(0, 8)} but does not hold it`);
      }
    }
  }

  /** A delete the core decided: never of a copy it lists, nor of the last good copy of a block a file needs. */
  #checkDelete(t: SimTracker, digests: readonly string[]): void {
    for (const d of digests) {
      const health = this.#core.blockHealth(d);
      if (!health) continue; // no file needs it
      if (health.live.includes(t.id) || health.dead.includes(t.id)) {
        this.#violate('safety', 'dfs-delete-listed', `${t.name} was told to delete block ${d.slice(0, 8)}, which the core lists there`);
      }
      const onlyDfs = t.store.get(d)?.size === 1 && t.store.get(d)!.has(DFS);
      if (t.storageHonest && onlyDfs && t.goodCopy(d) && !this.#trackers.some((o) => o !== t && o.goodCopy(d))) {
        this.#violate('safety', 'dfs-delete-last-copy', `${t.name} was told to delete the last good copy of block ${d.slice(0, 8)}`);
      }
    }
  }

  /** Trackers drop a job's intermediate data once it is over (drop_job), whatever way it ended. */
  #checkJobDataDropped(): void {
    if (this.#violations.length || this.#livenessWaived()) return;
    for (const job of this.#jobs) {
      // Ids it had before a restart are over too: their data goes as trackers register again.
      const over = [...job.pastIds];
      if (job.id && this.#core.job(job.id, this.#now).state !== 'RUNNING') over.push(job.id);
      for (const id of over) {
        const left = this.#trackers.filter((t) => t.up && [...t.store.values()].some((owners) => owners.has(id)));
        if (left.length) this.#violate('liveness', 'job-data-left', `${left.map((t) => t.name).join(', ')} still hold data of ${id}`);
      }
    }
  }

  /**
   * Blocks of files with fewer copies on usable trackers than they want and the cluster allows: a
   * tracker proven to have served a block bad is not given it again, and one that fails every
   * repair (blame-sources) cannot be made to take a copy.
   */
  #dfsShort(): { file: SimFile; digest: string; live: string[]; wanted: number }[] {
    // A tracker being decommissioned takes no copies and its own do not count.
    const usable = this.#core.trackers(this.#now).filter((i) => i.alive && !i.blacklisted && !this.#leaving.has(i.tracker_id)).map((i) => i.tracker_id);
    return this.#files.flatMap((file) => (file.removed ? [] : file.blocks.flatMap((digest) => {
      const h = this.#core.blockHealth(digest);
      const takers = usable.filter((id) => !h?.distrusted.includes(id) && (h?.live.includes(id) || this.#byId.get(id)?.plan.mode !== 'blame-sources'));
      return h && h.live.length < Math.min(h.wanted, takers.length)
        ? [{ file, digest, live: h.live, wanted: h.wanted }] : [];
    })));
  }

  /**
   * At the end: every block of every file has its copies back on usable trackers, at least one of
   * them good, none a read found bad; removed files' blocks are gone from every up tracker.
   */
  #checkDfsLiveness(): void {
    if (this.#violations.length || this.#livenessWaived()) return;
    for (const s of this.#dfsShort()) {
      this.#violate('liveness', 'dfs-under-replicated', `block ${s.digest.slice(0, 8)} of ${s.file.name} has ${s.live.length} usable copies ` +
        `[${s.live.map((id) => this.#name(id)).join(',')}], wants ${s.wanted}`);
    }
    // A block of a put that died may be one of a file's too (the same bytes put again).
    const listed = new Set(this.#files.filter((f) => !f.removed).flatMap((f) => f.blocks));
    for (const d of this.#abandoned) {
      if (listed.has(d)) continue;
      const still = this.#trackers.filter((t) => t.up && t.store.get(d)?.has(DFS));
      if (still.length) this.#violate('liveness', 'dfs-garbage', `block ${d.slice(0, 8)} of a put whose client died is still held by ${still.map((t) => t.name).join(', ')}`);
    }
    for (const file of this.#files) {
      for (const d of file.blocks) {
        const short = `block ${d.slice(0, 8)} of ${file.name}`;
        if (file.removed) {
          // A blame-sources tracker says its repairs fail, re-admissions of copies it holds
          // included: the core cannot tell it holds one. What it keeps is its own loss.
          const still = this.#trackers.filter((t) => t.up && t.store.get(d)?.has(DFS) && t.plan.mode !== 'blame-sources');
          if (still.length) this.#violate('liveness', 'dfs-garbage', `${short} (removed) is still held by ${still.map((t) => t.name).join(', ')}`);
          continue;
        }
        const health = this.#core.blockHealth(d);
        if (!health) {
          this.#violate('liveness', 'dfs-lost', `${short} is not tracked`);
          continue;
        }
        const names = health.live.map((id) => this.#name(id)).join(',');
        if (!health.live.some((id) => this.#byId.get(id)?.goodCopy(d))) {
          this.#violate('liveness', 'dfs-lost', `no listed copy of ${short} is good [${names}]`);
        }
        const bad = health.live.filter((id) => this.#badCopies.get(d)?.has(id) && this.#byId.get(id)?.up);
        if (bad.length) this.#violate('liveness', 'dfs-bad-copy-listed', `${short} is still listed on ${bad.map((id) => this.#name(id)).join(', ')}, found bad`);
      }
    }
  }

  /** A balancing run the running job tracker was asked for ends (balanced, stuck, or stopped). */
  #checkBalanceOver(): void {
    if (this.#violations.length || this.#balanceStartedAt === undefined || this.#balanceStartedAt < this.#restartedAt) return;
    const st = this.#core.balanceStatus();
    if (st.active && this.#now >= this.#balanceStartedAt + kBalanceWithinMs) {
      this.#violate('liveness', 'balance-stuck', `balancing started at ${this.#balanceStartedAt - START} ms still runs: ${st.movedBlocks} moved, ${st.moving} moving, ` +
        `spread ${st.spreadBytes} bytes, ${st.allowedBytes} allowed`);
    }
  }

  #finishReduce(t: SimTracker, ra: RunningAttempt): void {
    if (!this.#current(t, ra) || !ra.inputs) return;
    const r = ra.launch as LaunchReduce;
    const honest = reduceDigest(r.job_id, r.partition, ra.inputs);
    const stored = t.plan.mode === 'corrupt-reduce' ? sha256(`corrupt/${t.id}/${honest}`) : honest;
    const reported = t.plan.mode === 'lie-digest' ? sha256(stored + t.id) : stored;
    t.hold(stored, r.job_id, this.#now);
    const size = reduceSize(r.partition) + (stored === honest ? 0 : 1);
    this.#report(t, ra, okReport(r.attempt_id, [reported], [size], t.plan.slowMs), reported !== honest);
  }
}

// ---------------------------------------------------------------- helpers (outside the class)

function okReport(attemptId: string, digests: string[], sizes: number[], slowMs: number | undefined): AttemptReport {
  return {
    attempt_id: attemptId, ok: true, error: '', digests, sizes, counters: [{ name: 'records', value: digests.length }],
    duration_ms: slowMs ?? 0, bad_source_tracker: '', bad_source_digest: '', local_read: false,
  };
}

const MB = 1024 * 1024;

function block(name: string, size: number, hosts: string[]): BlockRef {
  return { digest: sha256(name), size, replicas: hosts.map((h) => ({ tracker_id: h, address: `${h}:7000` })) };
}

/**
 * A job over one input file of `maps` splits of 1 to 128 MB (a quarter of them small, like a file's
 * tail), each split's blocks (64 bytes: their size does not matter here) on a random tracker.
 */
function jobSpec(name: string, output: string, plan: JobPlan, f: number, trackerIds: string[], rng: Prng): JobSpec {
  const splitBytes = 64;
  const lengths = Array.from({ length: plan.maps }, () => (rng.chance(0.25) ? rng.int(1, 4) : rng.int(8, 128)) * MB);
  const offsets = lengths.map((_, i) => lengths.slice(0, i).reduce((a, b) => a + b, 0));
  const fileSize = lengths.reduce((a, b) => a + b, 0);
  return {
    name,
    bundle: block(`bundle ${name}`, 321, [rng.pick(trackerIds)]),
    conf: [{ key: 'sim', value: name }],
    f,
    numReduces: plan.reduces,
    output,
    splits: Array.from({ length: plan.maps }, (_, i) => {
      const host = rng.pick(trackerIds);
      const blocks: FileBlock[] = [
        { block: block(`${output}/in-${i}-a`, splitBytes, [host]), offset: i * splitBytes },
        { block: block(`${output}/in-${i}-b`, splitBytes, [host]), offset: (i + 1) * splitBytes },
      ];
      return { path: `${output}.in`, offset: offsets[i]!, length: lengths[i]!, fileSize, blocks, hosts: [host] };
    }),
  };
}

function reportText(r: AttemptReport): string {
  const id = r.attempt_id.replace(/^attempt_job_\d+_/, '');
  return r.ok ? `${id}=${r.digests.map((d) => d.slice(0, 6)).join(',')}` : `${id}!bad-source:${r.bad_source_tracker}`;
}

function actionText(a: TaskAction): string {
  const short = (id: string) => id.replace(/^attempt_job_\d+_/, '');
  if ('launch_map' in a) return `map:${short(a.launch_map.attempt_id)}`;
  if ('launch_reduce' in a) {
    const r = a.launch_reduce;
    return `reduce:${short(r.attempt_id)}<${r.sources.map((s) => `${s.map_index}@${s.location.tracker_id}`).join(',')}`;
  }
  if ('kill_attempt' in a) return `kill:${short(a.kill_attempt)}`;
  if ('replicate_block' in a) return `replicate:${a.replicate_block.digest.slice(0, 8)}`;
  if ('delete_blocks' in a) return `delete:${a.delete_blocks.digests.length}`;
  return `drop:${a.drop_job.job_id.replace(/^job_\d+_/, '')}(keep ${a.drop_job.keep.length})`;
}

/** One line for a failing seed: what broke, and how to replay it. */
export function failureLine(r: SimResult, exclude: readonly Feature[] = []): string {
  const v = r.violations[0]!;
  const replay = `--seed ${r.seed}${exclude.length ? ` --exclude ${exclude.join(',')}` : ''}`;
  return `seed ${r.seed}: ${v.kind} ${v.property} at ${v.atMs}ms: ${v.detail} [${r.description}] (replay: ${replay})`;
}
