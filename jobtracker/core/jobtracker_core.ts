/**
 * The job tracker's decisions as a state machine: events in (register, heartbeat, submit, tick,
 * commit outcome, dfs blocks tracked and forgotten, accusations), actions out (the heartbeat
 * reply's launches, kills, repairs and deletes, and effects for the adapter). No I/O, no clock,
 * no randomness of its own: a simulator can drive it from a seed.
 */
import { BftmrError } from '../../lib/errors.ts';
import type {
  AttemptInfo, AttemptReport, BlockRef, ClusterStatusReply, DropJob, HeartbeatRequest, JobStatus, Location, TaskAction, TrackerInfo,
} from '../../lib/messages.ts';
import { shortDigest } from '../../lib/digest.ts';
import { kReplicationDefaults, ReplicationMonitor, type BalanceStatus, type BlockHealth } from './replication.ts';
import { codeBlocks, JobInProgress, type JobContext } from './job_in_progress.ts';
import { maxVotes } from './vote.ts';
import { hostShares, SlotPlan, type HostShares } from './host_share.ts';
import { hostOf } from '../../lib/hosts.ts';
import { kLateDefaults, type CoreOptions, type Effect, type JobSpec } from './types.ts';

export interface TrackerRecord {
  id: string;
  address: string;
  pid: number;
  slots: number;
  fault: string;
  lastHeartbeatMs: number;
  alive: boolean;
  verdicts: string[];
  running: number;
  /** Its free slots as it last reported them, less the attempts sent to it since. */
  free: number;
  /** The cores of its host, as it said at registration (0: not said); trackers on one host share them (host_share.ts). */
  cores: number;
  /** Its attempts the job tracker still waited for at its last heartbeat, and those sent to it since. */
  busy: number;
  /** Since when it has had a free slot and been given nothing (see JobInProgress.assign). */
  idleSince?: number;
  /** Actions waiting for the tracker's next heartbeat (kills, drops). */
  outbox: TaskAction[];
  /** The last reply sent, kept until the tracker acknowledges it by its id. */
  lastReply?: { id: number; actions: TaskAction[] };
  replies: number;
  /**
   * dfs blocks this tracker was sent to read for a task (the blocks its split reads, job code),
   * each with the replicas it was told to read from and may still accuse, each once. An accusation
   * costs the job tracker a block check, so a tracker cannot make it check what it had no reason
   * to read.
   */
  readable: Map<string, Set<string>>;
  /** Attempts it still runs that no job needs, told to stop. */
  killSent: Set<string>;
}

/** Finished jobs kept (status, attempts, records), by default. */
export const kJobHistory = 1000;
/** At most this many accusations against trackers not registered are kept (see #heldAccusations). */
const kHeldAccusations = 4096;
/** Blocks a tracker may still accuse a source of, at most (the oldest are forgotten). */
const MAX_READABLE = 1024;
export class JobTrackerCore {
  readonly #opts: CoreOptions;
  readonly #random: () => number;
  readonly #stamp: string;
  readonly #trackers = new Map<string, TrackerRecord>();
  readonly #jobs = new Map<string, JobInProgress>();
  #effects: Effect[] = [];
  /** Jobs whose end the trackers were told of (so they drop its intermediate data). */
  readonly #ended = new Set<string>();
  /** Audits of a job's map outputs not answered yet, per job: the job ends only after them. */
  readonly #jobAudits = new Map<string, number>();
  /** Jobs whose output is committed, waiting for their audits before they are SUCCEEDED. */
  readonly #committedAt = new Map<string, number>();
  /** `tracker|digest` pairs audited already: one check per claim is enough. */
  readonly #audited = new Set<string>();
  /**
   * `tracker|digest` pairs of dfs blocks being audited now (audited again on a later accusation),
   * and whether that audit is a routine one. A routine audit asks for a proof under a challenge,
   * which a node that holds the right bytes but serves readers others answers well: an accusation
   * that comes meanwhile is kept (`accused`) and checked when it ends, fetching as readers do.
   */
  readonly #blockAudits = new Map<string, { routine: boolean; accused?: { why: string; unlisted: boolean } }>();
  /**
   * Accusations against a tracker this run of the job tracker does not know (yet: after a restart
   * a reader may accuse a node before the node registers again), by `tracker|digest`, oldest first:
   * audited when it registers (its block report says then whether the copy is listed), dropped
   * after a tracker's expiry time, and at most kHeldAccusations of them (a liar could name any).
   */
  readonly #heldAccusations = new Map<string, { trackerId: string; digest: string; why: string; unlisted: boolean; sinceMs: number }>();
  readonly #replication: ReplicationMonitor;
  /**
   * drop_job actions for trackers that were lost before they carried them out (their disks keep
   * the data): sent when they register again.
   */
  readonly #pendingDrops = new Map<string, Map<string, DropJob>>();
  /** Trackers being decommissioned (decommission), by id, registered or not: since when. */
  readonly #leaving = new Map<string, number>();
  /** Verdicts of earlier runs of the job tracker (restoreVerdicts), for trackers not registered since. */
  #pastVerdicts = new Map<string, readonly string[]>();
  /** Jobs of an earlier run of the job tracker (restoreJobs): their records only. */
  readonly #history = new Map<string, JobStatus>();
  /** Jobs an earlier run left running, to run again once the trackers holding the dfs are back (restoreJobs). */
  #reruns: string[] = [];
  #jobSeq = 0;
  /**
   * After a restart, trackers re-register within one expiry interval: until then nothing is
   * judged under-replicated (HDFS's safe mode), and left-over jobs may wait for trackers.
   */
  readonly #safeUntilMs: number;

  constructor(opts: CoreOptions, random: () => number, startMs: number) {
    this.#opts = opts;
    this.#safeUntilMs = startMs + opts.trackerExpiryMs;
    this.#random = random;
    this.#stamp = new Date(startMs).toISOString().replace(/[-:T]/g, '').slice(0, 12);
    this.#replication = new ReplicationMonitor(
      {
        ...kReplicationDefaults, auditIntervalMs: opts.dfsAuditIntervalMs ?? kReplicationDefaults.auditIntervalMs,
        writeLeaseMs: opts.writeLeaseMs ?? kReplicationDefaults.writeLeaseMs, ...opts.replication,
      },
      random,
      {
        usable: (id) => this.#usable(this.#trackers.get(id)),
        serves: (id) => this.#serves(this.#trackers.get(id)),
        alive: (id) => this.#trackers.get(id)?.alive ?? false,
        location: (id) => this.location(id),
        usableIds: () => this.liveTrackers().map((t) => t.id),
        jobBlocks: () => {
          const blocks = new Set<string>();
          for (const job of this.#jobs.values()) {
            if (job.state !== 'RUNNING' && job.state !== 'COMMITTING') continue;
            for (const b of codeBlocks(job.spec)) blocks.add(b.digest);
            for (const s of job.spec.splits) for (const fb of s.blocks) blocks.add(fb.block.digest);
          }
          return blocks;
        },
      },
      this.#safeUntilMs,
      startMs,
    );
  }

  // ---------------------------------------------------------------- writes

  /** A client's write (a put) runs on; it began `startedMsAgo` ago. */
  renewWriteLease(id: string, startedMsAgo: number, now: number): void {
    if (!this.#replication.leases.renew(id, now - startedMsAgo, now)) throw leaseLapsed();
  }

  /** A write creates its file: refused when its lease lapsed, as its blocks may have been collected. */
  checkWriteLease(id: string, now: number): void {
    if (!this.#replication.leases.held(id, now)) throw leaseLapsed();
  }

  /**
   * A put creates its file: refused if a block of it has no copy left to believe (see
   * ReplicationMonitor.unbacked), rather than create a file with a missing block.
   */
  checkNewFile(path: string, blocks: readonly { digest: string; replicas: readonly string[] }[], leaseId: string | undefined, now: number): void {
    const i = blocks.findIndex((b) => this.#replication.unbacked(b.digest, b.replicas, leaseId, now));
    if (i >= 0) {
      throw new BftmrError('DFS_NO_REPLICA', `${path}: block ${i} (${shortDigest(blocks[i]!.digest)}) was deleted while it was written ` +
        '(a file of the same bytes was removed meanwhile); write it again');
    }
  }

  releaseWriteLease(id: string, now: number): void {
    this.#replication.leases.release(id, now);
  }

  // ---------------------------------------------------------------- trackers

  /**
   * A tracker (re)joins, with its block report (the digests of the dfs blocks it holds; absent
   * when it stores none, as in the simulator). Returns its id: the one it had, or a fresh one.
   */
  register(req: { tracker_id: string; address: string; pid: number; slots: number; cores?: number; fault: string; blocks?: { digest: string }[]; block_ages_ms?: number[]; clock_ms?: number; jobs?: string[] },
    now: number): string {
    let id = req.tracker_id;
    if (!id) {
      do id = `tt-${Math.floor(this.#random() * 0xffffffff).toString(16).padStart(8, '0')}`; while (this.#trackers.has(id));
    }
    const prev = this.#trackers.get(id);
    if (prev?.alive) this.#lose(prev, now, true); // it restarted: whatever it ran is gone, its disk is not
    this.#trackers.set(id, {
      id, address: req.address, pid: req.pid, slots: req.slots, fault: req.fault, lastHeartbeatMs: now,
      cores: Number.isSafeInteger(req.cores) && req.cores! > 0 ? req.cores! : 0, busy: 0,
      alive: true, verdicts: prev?.verdicts ?? [...(this.#pastVerdicts.get(id) ?? [])], running: 0, free: 0, outbox: [], replies: prev?.replies ?? 0, readable: new Map(), killSent: new Set(),
    });
    this.#replication.trackerClock(id, req.clock_ms);
    this.#replication.trackerUp(id, req.blocks?.map((b, i) => ({ digest: b.digest, ageMs: req.block_ages_ms?.[i] })), now);
    this.#auditHeld(id, now);
    const { outbox } = this.#trackers.get(id)!;
    // Jobs that ended while it was away: it drops their data too, keeping only the copies the
    // dfs still counts on it for (its others were replaced meanwhile).
    const pending = this.#pendingDrops.get(id);
    this.#pendingDrops.delete(id);
    for (const d of pending?.values() ?? []) {
      outbox.push({ drop_job: { job_id: d.job_id, keep: d.keep.filter((k) => this.#replication.expects(id, k)) } });
    }
    // The jobs it holds data of that are not running here: those of an earlier run of the job
    // tracker (which may have ended before it was told, or been left running), or forgotten. Their
    // data goes, but for the copies the dfs counts on (a committed output whose job it was never told was over).
    const over = (req.jobs ?? []).filter((j) => (!this.#jobs.has(j) || this.#ended.has(j)) && !pending?.has(j));
    if (over.length) {
      const keep = (req.blocks ?? []).map((b) => b.digest).filter((d) => this.#replication.expects(id, d));
      for (const job_id of over) outbox.push({ drop_job: { job_id, keep } });
    }
    return id;
  }

  /** Whether a tracker's verdicts exceed the limit: it is no longer given work or used as a source. */
  blacklisted(t: TrackerRecord): boolean {
    return t.verdicts.length > this.#opts.blacklistAfterVerdicts;
  }

  /** Alive, trusted, and not being decommissioned: given work, counted as a copy, a repair's target. */
  #usable(t: TrackerRecord | undefined): t is TrackerRecord {
    return this.#serves(t) && !this.#leaving.has(t.id);
  }

  /** Alive and trusted: it serves what it holds (map outputs, dfs copies), decommissioned or not. */
  #serves(t: TrackerRecord | undefined): t is TrackerRecord {
    return !!t && t.alive && !this.blacklisted(t);
  }

  /**
   * The operator takes a tracker out (HDFS's decommissioning), or back (`on` false): it gets no
   * new attempts or copies, and its copies no longer count, so they are made elsewhere, from it
   * too; its running attempts finish and it keeps serving. Once `decommissionLeft` is 0 it can
   * stop without costing a copy. Kept across restarts (restoreDecommissions).
   */
  decommission(trackerId: string, on: boolean, now: number): void {
    if (!this.#trackers.has(trackerId) && !this.#leaving.has(trackerId) && this.#replication.holdings(trackerId).blocks === 0) {
      throw new BftmrError('JOB_BAD_ARGUMENT', `no task tracker ${trackerId}`);
    }
    if (on === this.#leaving.has(trackerId)) return;
    if (on) this.#leaving.set(trackerId, now);
    else this.#leaving.delete(trackerId);
    this.#replication.touchTracker(trackerId);
    this.#effects.push({ type: 'decommission', trackerId, on });
    this.#effects.push({ type: 'log', message: `tracker ${trackerId} ${on ? 'is being decommissioned' : 'is in service again'}` });
  }

  /**
   * The trackers being decommissioned when the job tracker last stopped. Since now, as far as the
   * writes go: any running one may have begun before, and put blocks there.
   */
  restoreDecommissions(ids: Iterable<string>, now: number): void {
    for (const id of ids) this.#leaving.set(id, now);
  }

  /**
   * What keeps a tracker being decommissioned from stopping (0: nothing): its blocks that are
   * short of copies elsewhere, the running jobs it runs attempts or holds outputs for, the
   * running writes begun before its decommissioning (they may have put blocks there that no file
   * lists yet; later ones were sent elsewhere), and, for a dead one, the blocks missing.
   */
  decommissionLeft(trackerId: string, now: number): number {
    let jobs = 0;
    for (const job of this.#jobs.values()) if (job.uses(trackerId)) jobs++;
    const since = this.#leaving.get(trackerId) ?? now;
    // A dead tracker's copies are no longer listed, but its disk may hold the only copy of a
    // missing block: wiping it is safe only once no block is missing.
    const missing = this.#trackers.get(trackerId)?.alive ? 0 : this.#replication.missingBlocks();
    return this.#replication.shortWithout(trackerId) + jobs + this.#replication.leases.writesBegunBy(since, now) + missing;
  }

  /**
   * The operator asks for the dfs to be balanced (`bftmr dfs balance`, HDFS's balancer), or for a
   * run to stop: see ReplicationMonitor.balance. The run is not kept across restarts: the
   * operator runs it again, as HDFS's balancer is run again.
   */
  balance(on: boolean, thresholdPercent: number, now: number): BalanceStatus {
    if (on && !(thresholdPercent >= 0 && thresholdPercent <= 100)) {
      throw new BftmrError('JOB_BAD_ARGUMENT', `the threshold is a percentage from 0 to 100, not ${thresholdPercent}`);
    }
    this.#replication.balance(on, thresholdPercent, now);
    return this.#replication.balanceStatus();
  }

  balanceStatus(): BalanceStatus {
    return this.#replication.balanceStatus();
  }

  liveTrackers(): TrackerRecord[] {
    return [...this.#trackers.values()].filter((t) => this.#usable(t));
  }

  /**
   * How often trackers should heartbeat now: the configured interval, or on a big cluster long
   * enough that the live trackers send at most `heartbeatsPerSec` periodic heartbeats a second.
   */
  heartbeatIntervalMs(): number {
    let alive = 0;
    for (const t of this.#trackers.values()) if (t.alive) alive++;
    const perSec = this.#opts.heartbeatsPerSec ?? kLateDefaults.heartbeatsPerSec;
    return Math.max(this.#opts.heartbeatIntervalMs, Math.ceil((alive * 1000) / perSec));
  }

  /** How long without a heartbeat before a tracker is dead: the configured expiry, stretched as the interval is. */
  expiryMs(): number {
    return Math.round((this.#opts.trackerExpiryMs * this.heartbeatIntervalMs()) / this.#opts.heartbeatIntervalMs);
  }

  location(id: string): Location | undefined {
    const t = this.#trackers.get(id);
    return t && { tracker_id: t.id, address: t.address };
  }

  heartbeat(req: HeartbeatRequest, now: number): { actions: TaskAction[]; reregister: boolean; response_id: number; heartbeat_interval_ms?: number } {
    const t = this.#trackers.get(req.tracker_id);
    if (!t || !t.alive) return { actions: [], reregister: true, response_id: 0 };
    t.lastHeartbeatMs = now;
    t.running = req.running.length;
    // What its block report lists was stored by then: deletes decided on it spare later copies (a write's).
    this.#replication.trackerClock(t.id, req.clock_ms);
    const ctx = this.#ctx(now);
    for (const rep of req.reports) this.#report(t, rep, ctx);
    // Judge its running list only when the tracker has seen our last reply (a current view, not a
    // request that was delayed in the network or a launch it has not received yet).
    if (!t.lastReply || req.last_response_id === t.lastReply.id) {
      this.#replication.repliesAcknowledged(t.id);
      // What it says keeps a thread busy, of what the job tracker still waits for (a hung tracker's
      // attempts count until their deadline; what waits out a slow tracker's delay, not at all).
      let waitedFor = 0;
      for (const id of req.running) {
        const job = this.#jobOf(id);
        job?.stillRunning(t.id, id, ctx); // a deadline missed still names the tracker, even once the job is over
        if (job?.waitsFor(t.id, id)) waitedFor++;
        // An attempt of a job that is over, or that this run of the job tracker never launched
        // (it restarted), holds a slot for nothing: it is killed (once; a lost reply is sent again).
        if ((!job || this.#ended.has(job.id)) && !t.killSent.has(id)) {
          t.killSent.add(id);
          t.outbox.push({ kill_attempt: id });
        }
      }
      for (const id of t.killSent) if (!req.running.includes(id)) t.killSent.delete(id);
      t.busy = Math.min(waitedFor, Math.max(0, t.slots - req.free_slots));
    }
    for (const r of req.replications ?? []) {
      // Its word against a source is a reason to look, not proof.
      for (const s of this.#replication.repairResult(t.id, r, now)) this.#auditBlock(s, r.digest, `accused by ${t.id} during a repair`, now);
      for (const m of this.#replication.takeMoveAudits()) this.#auditBlock(m.trackerId, m.digest, 'a copy a balancing move made', now, false, true);
    }
    // A reader's word against a source is a reason to look, not proof; only for a block it was sent
    // to read, once per launch that sent it there.
    for (const r of req.bad_reads ?? []) {
      if (!t.readable.get(r.digest)?.delete(r.tracker_id)) continue;
      this.#auditBlock(r.tracker_id, r.digest, `accused by ${t.id}, reading it for a task`, now);
    }
    if (req.bad_blocks?.length) {
      this.#replication.selfReportedBad(t.id, req.bad_blocks);
      this.#effects.push({ type: 'log', message: `${t.id}: its scrubber found ${req.bad_blocks.length} bad blocks` });
    }
    if (req.deleted_blocks?.length) this.#effects.push({ type: 'log', message: `${t.id}: deleted ${req.deleted_blocks.length} unreferenced blocks` });
    if (req.block_report?.length) this.#replication.blockReport(t.id, req.block_report.map((h) => ({ digest: h.digest, ageMs: h.age_ms })), now);
    // The tracker did not get our last reply: its actions (launches above all) go out again.
    // Trackers ignore launches and repairs they already carried out; a delete run twice is
    // harmless too, as no copy of its block is made there until a reply that had it is acknowledged.
    const missed = t.lastReply && (req.last_response_id ?? 0) !== t.lastReply.id ? t.lastReply.actions : [];
    const actions = [...missed, ...t.outbox, ...this.#replication.take(t.id, now)];
    t.outbox = [];
    if (this.#usable(t)) {
      t.free = req.free_slots;
      if (this.#slotsLeft(t) <= 0) t.idleSince = undefined;
      else t.idleSince ??= now;
      for (const job of this.#jobs.values()) {
        const slots = this.#slotsLeft(t);
        if (slots <= 0) break;
        const launched = job.assign(t.id, slots, ctx, now - (t.idleSince ?? now));
        if (launched.length) t.idleSince = undefined;
        t.free -= launched.length;
        t.busy += launched.length;
        actions.push(...launched);
        for (const a of launched) {
          if ('launch_map' in a && a.launch_map) {
            const m = a.launch_map;
            this.#mayRead(t, [...codeBlocks(m.code), ...m.blocks.map((b) => b.block)]);
          }
          if ('launch_reduce' in a && a.launch_reduce) this.#mayRead(t, codeBlocks(a.launch_reduce.code));
        }
      }
    }
    this.#checkJobs(ctx);
    t.lastReply = { id: ++t.replies, actions };
    return { actions, reregister: false, response_id: t.lastReply.id, heartbeat_interval_ms: this.heartbeatIntervalMs() };
  }

  /** Every usable tracker's free slots within its share of its host, and the shared hosts' room (host_share.ts). */
  #hostShares(): HostShares {
    let f = 0;
    for (const job of this.#jobs.values()) if (job.state === 'RUNNING') f = Math.max(f, job.f);
    const usable = [...this.#trackers.values()].filter((t) => this.#usable(t));
    return hostShares(usable.map((t) => ({ id: t.id, host: hostOf(t.address), cores: t.cores, free: t.free, busy: t.busy })), f);
  }

  /** How many attempts `t` may start now. */
  #slotsLeft(t: TrackerRecord): number {
    return new SlotPlan(this.#hostShares()).left(t.id);
  }

  #mayRead(t: TrackerRecord, blocks: Pick<BlockRef, 'digest' | 'replicas'>[]): void {
    for (const b of blocks) {
      t.readable.delete(b.digest);
      t.readable.set(b.digest, new Set(b.replicas.map((r) => r.tracker_id)));
    }
    for (const d of t.readable.keys()) {
      if (t.readable.size <= MAX_READABLE) break;
      t.readable.delete(d);
    }
  }

  #report(t: TrackerRecord, rep: AttemptReport, ctx: JobContext): void {
    this.#jobOf(rep.attempt_id)?.report(t.id, rep, ctx);
  }

  #jobOf(attemptId: string): JobInProgress | undefined {
    const jobId = /^attempt_(.+)_[mr]_\d+_\d+$/.exec(attemptId)?.[1];
    return jobId === undefined ? undefined : this.#jobs.get(jobId);
  }

  /** Time passes: trackers that stopped heartbeating are declared dead. */
  tick(now: number): void {
    const expiry = this.expiryMs();
    for (const t of this.#trackers.values()) {
      if (t.alive && now - t.lastHeartbeatMs > expiry) this.#lose(t, now);
    }
    this.#checkJobs(this.#ctx(now));
    if (this.#reruns.length) this.#rerunWhenReady(now);
    this.#expireHeld(now);
    const audit = this.#replication.tick(now, this.runningJobs() > 0);
    if (audit) this.#auditBlock(audit.trackerId, audit.digest, 'routine audit', now, false, true);
  }

  /**
   * After a restart, the jobs left running run again once the trackers that hold the dfs are back
   * and enough of them to vote (2f+1), or when the safe mode is over, whatever is back by then.
   */
  #rerunWhenReady(now: number): void {
    const over = now >= this.#safeUntilMs;
    if (!over && !this.#replication.holdersBack()) return;
    const live = this.liveTrackers().length;
    const ready = (id: string) => over || live >= maxVotes(this.#history.get(id)?.f ?? 0);
    for (const jobId of this.#reruns.filter(ready)) this.#effects.push({ type: 'rerun', jobId });
    this.#reruns = this.#reruns.filter((id) => !ready(id));
  }

  #lose(t: TrackerRecord, now: number, restarted = false): void {
    t.alive = false;
    // Drops it may not have carried out (queued, or in a reply it may not have had) wait for its return.
    for (const a of [...(t.lastReply?.actions ?? []), ...t.outbox]) if ('drop_job' in a) this.#dropLater(t.id, a.drop_job);
    t.outbox = [];
    t.readable.clear();
    this.#effects.push({ type: 'log', message: `tracker ${t.id} (${t.address}) is lost` });
    this.#replication.trackerDown(t.id, restarted);
    const ctx = this.#ctx(now);
    for (const job of this.#jobs.values()) job.trackerLost(t.id, ctx);
  }

  #checkJobs(ctx: JobContext): void {
    const eligible = this.liveTrackers().map((t) => t.id);
    for (const job of this.#jobs.values()) {
      job.checkStuck(eligible, ctx);
      if (job.state === 'FAILED') this.#finished(job); // however it failed: by a vote, a task, or being stuck
    }
  }

  #ctx(now: number): JobContext {
    return {
      now,
      lateFactor: this.#opts.lateFactor ?? kLateDefaults.lateFactor,
      lateFloorMs: this.#opts.lateFloorMs ?? kLateDefaults.lateFloorMs,
      deadlineFactor: this.#opts.deadlineFactor ?? kLateDefaults.deadlineFactor,
      deadlineFloorMs: this.#opts.deadlineFloorMs ?? kLateDefaults.deadlineFloorMs,
      pairWaitMs: this.#opts.pairWaitMs ?? kLateDefaults.pairWaitMs,
      // Where a reducer fetches a map output: a tracker being decommissioned still serves.
      liveAddress: (id) => {
        const t = this.#trackers.get(id);
        return this.#serves(t) ? t.address : undefined;
      },
      kill: (trackerId, attemptId) => {
        const t = this.#trackers.get(trackerId);
        t?.killSent.add(attemptId);
        t?.outbox.push({ kill_attempt: attemptId });
      },
      verdict: (trackerId, reason) => this.#verdict(trackerId, reason),
      proven: (trackerId) => (this.#trackers.get(trackerId)?.verdicts.length ?? 0) > 0,
      audit: (jobId, task, trackerId, digest) => {
        const t = this.#trackers.get(trackerId);
        if (!t || this.#audited.has(`${trackerId}|${digest}`)) return;
        this.#audited.add(`${trackerId}|${digest}`);
        this.#jobAudits.set(jobId, (this.#jobAudits.get(jobId) ?? 0) + 1);
        this.#effects.push({ type: 'audit', jobId, task, trackerId, address: t.address, digest });
      },
      commit: (jobId, output, files) => this.#effects.push({ type: 'commit', jobId, output, files }),
      freeSlots: () => this.#hostShares(),
      sourceBudget: { left: this.#opts.maxSourcesPerReply ?? kLateDefaults.maxSourcesPerReply, launches: 0 },
    };
  }

  #verdict(trackerId: string, reason: string): void {
    const t = this.#trackers.get(trackerId);
    if (!t) return;
    t.verdicts.push(reason);
    this.#effects.push({ type: 'verdict', trackerId, reason });
    if (this.blacklisted(t)) {
      this.#effects.push({ type: 'log', message: `tracker ${t.id} is blacklisted` });
      this.#replication.touchTracker(t.id); // its copies no longer count
    }
  }

  // ---------------------------------------------------------------- dfs blocks

  /**
   * A file (new, or loaded at start) refers to block `digest` and wants `wanted` copies (the most
   * any of its files wants); `replicas` acknowledged a verified copy.
   */
  trackBlock(digest: string, size: number, wanted: number, replicas: readonly string[], now: number, verify = false): void {
    this.#replication.track(digest, size, wanted, replicas, now, verify);
  }

  /**
   * Whether a put's claims must be checked rather than believed: it began before this job tracker
   * started, so a copy it stored may have been deleted by the last one (a trim of a file with the
   * same bytes, say), and the tombstones that would show it went with it.
   */
  writeBegunBeforeStart(leaseId: string): boolean {
    return this.#replication.leases.begunBefore(leaseId);
  }

  /** No file refers to `digest` any more: its copies are deleted on their trackers. */
  forgetBlock(digest: string): void {
    this.#replication.forget(digest);
  }

  /**
   * A reader says `trackerId` served bad bytes of `digest` (or denied holding it): audit it. A
   * writer says a copy it made there failed its challenge and was not kept: it is checked too, and
   * deleted only if it is bad (so no one's word deletes a good copy, such as one a concurrent put
   * of the same bytes is about to list).
   */
  reportBadReplica(trackerId: string, digest: string, reporter: string, now: number, writer = false): void {
    if (writer && !this.#replication.isReplica(trackerId, digest)) this.#auditBlock(trackerId, digest, `a copy ${reporter} did not keep`, now, true);
    else this.#auditBlock(trackerId, digest, `reported by ${reporter}`, now);
  }

  blockHealth(digest: string): BlockHealth | undefined {
    return this.#replication.health(digest);
  }

  #auditBlock(trackerId: string, digest: string, why: string, now: number, unlisted = false, routine = false): void {
    const t = this.#trackers.get(trackerId);
    const key = `${trackerId}|${digest}`;
    if (!t && !routine) {
      this.#holdAccusation(key, { trackerId, digest, why, unlisted, sinceMs: now });
      return;
    }
    if (!t || unlisted === this.#replication.isReplica(trackerId, digest)) return;
    const current = this.#blockAudits.get(key);
    if (current) {
      if (current.routine && !routine) current.accused ??= { why, unlisted };
      return;
    }
    this.#blockAudits.set(key, { routine });
    this.#effects.push({
      type: 'audit', jobId: '', task: why, trackerId, address: t.address, digest, ...(unlisted ? { unlisted } : {}), ...(routine ? { routine } : {}),
    });
  }

  #holdAccusation(key: string, a: { trackerId: string; digest: string; why: string; unlisted: boolean; sinceMs: number }): void {
    if (this.#heldAccusations.has(key)) return;
    if (this.#heldAccusations.size >= kHeldAccusations) this.#heldAccusations.delete(this.#heldAccusations.keys().next().value!);
    this.#heldAccusations.set(key, a);
  }

  /** The accusations held against `trackerId`, now that it has registered: each is audited as it came. */
  #auditHeld(trackerId: string, now: number): void {
    for (const [key, a] of this.#heldAccusations) {
      if (a.trackerId !== trackerId) continue;
      this.#heldAccusations.delete(key);
      this.#auditBlock(a.trackerId, a.digest, a.why, now, a.unlisted);
    }
  }

  /** Accusations held longer than a tracker may stay silent: their tracker is not coming back soon. */
  #expireHeld(now: number): void {
    for (const [key, a] of this.#heldAccusations) {
      if (now - a.sinceMs <= this.expiryMs()) break; // oldest first
      this.#heldAccusations.delete(key);
    }
  }

  // ---------------------------------------------------------------- jobs

  /** Accepts a job, or refuses it with a reason. */
  submit(spec: JobSpec, now: number): string {
    const live = this.liveTrackers().length;
    if (!Number.isInteger(spec.f) || spec.f < 0) throw new BftmrError('JOB_BAD_ARGUMENT', `f must be a whole number >= 0, not ${spec.f}`);
    if (live < maxVotes(spec.f)) {
      let out = 0; // alive, but blacklisted or leaving: no work goes there
      for (const t of this.#trackers.values()) if (t.alive) out++;
      out -= live;
      throw new BftmrError('BFT_TOO_FEW_TRACKERS',
        `f=${spec.f} needs at least 2f+1=${maxVotes(spec.f)} live task trackers, and the cluster has ${live}` +
        (out > 0 ? ` in service (${out} more are alive but blacklisted or being decommissioned)` : ''));
    }
    if (!Number.isInteger(spec.numReduces) || spec.numReduces < 0) {
      throw new BftmrError('JOB_BAD_ARGUMENT', `the number of reduces must be a whole number (0: a map-only job), not ${spec.numReduces}`);
    }
    // A running job's output is spoken for: a second job writing there, or above or below it,
    // would run to the end only to fail at its commit.
    const within = (a: string, b: string) => a === b || a.startsWith(b === '/' ? '/' : `${b}/`);
    for (const other of this.#jobs.values()) {
      if ((other.state === 'RUNNING' || other.state === 'COMMITTING') && (within(spec.output, other.spec.output) || within(other.spec.output, spec.output))) {
        throw new BftmrError('DFS_EXISTS', `output ${spec.output} clashes with ${other.spec.output}, the output of running job ${other.id}`);
      }
    }
    let id: string;
    do id = `job_${this.#stamp}_${String(++this.#jobSeq).padStart(4, '0')}`; while (this.#history.has(id));
    const job = new JobInProgress(id, spec, now);
    this.#jobs.set(id, job);
    this.#effects.push({ type: 'job', status: job.status(now) });
    // A job without maps or whose reduces need no input can decide at once.
    return id;
  }

  /**
   * The outcome of an audit: `matched` false only when the tracker answered with bytes that do
   * not hash to `digest`; `held` false when it answered that it does not hold the block.
   * Unreachable proves nothing. For a job's map output "not held" proves nothing either (the job
   * may be over); for a dfs block the tracker claimed, it is a lost block.
   */
  auditResult(audit: { jobId: string; task: string; trackerId: string; digest: string; unlisted?: boolean }, matched: boolean, now: number,
    held = true, answered = true): void {
    if (!audit.jobId) {
      const key = `${audit.trackerId}|${audit.digest}`;
      const accused = this.#blockAudits.get(key)?.accused;
      this.#blockAudits.delete(key);
      if (matched && held) {
        // A balancing move's new copy: only a proven one replaces the old.
        this.#replication.moveChecked(audit.trackerId, audit.digest, answered, now);
        if (accused) this.#auditBlock(audit.trackerId, audit.digest, accused.why, now, accused.unlisted);
        return;
      }
      if (audit.unlisted) { this.#replication.discard(audit.trackerId, audit.digest); return; }
      if (!this.#replication.isReplica(audit.trackerId, audit.digest)) return; // already dealt with
      const d = shortDigest(audit.digest);
      this.#verdict(audit.trackerId, !matched
        ? `served bytes of block ${d} that do not match its digest (${audit.task})`
        : `lost block ${d} it claimed (${audit.task})`);
      this.#replication.proveBad(audit.trackerId, audit.digest);
      return;
    }
    const left = (this.#jobAudits.get(audit.jobId) ?? 1) - 1;
    if (left > 0) this.#jobAudits.set(audit.jobId, left);
    else this.#jobAudits.delete(audit.jobId);
    if (!matched) this.#jobs.get(audit.jobId)?.servedBadBytes(audit.trackerId, audit.task, audit.digest, this.#ctx(now));
    const committedAt = this.#committedAt.get(audit.jobId);
    if (left <= 0 && committedAt !== undefined) this.committed(audit.jobId, committedAt);
  }

  /** The adapter recorded the output in the namespace. */
  committed(jobId: string, now: number): void {
    const job = this.#jobs.get(jobId);
    if (!job || job.state !== 'COMMITTING') return;
    // Its audits first: the summary must name every tracker they prove faulty, and the accused
    // must still hold the bytes (finishing the job tells trackers to drop them).
    if (this.#jobAudits.has(jobId)) { this.#committedAt.set(jobId, now); return; }
    this.#committedAt.delete(jobId);
    job.committed(now);
    this.#finished(job);
  }

  /**
   * A user stops a job (Hadoop's `job -kill`): its running attempts are killed, trackers drop its
   * intermediate data, nothing is committed. A job committing its output, or over, is not killed.
   */
  kill(jobId: string, who: string, now: number): JobStatus {
    const old = this.#past(jobId);
    if (old?.rerun_as) return this.kill(old.rerun_as, who, now);
    if (old && this.#reruns.includes(jobId)) {
      this.#reruns = this.#reruns.filter((id) => id !== jobId);
      Object.assign(old, { state: 'KILLED', error_code: 'JOB_KILLED', error: `killed by ${who} before it could run again after a restart of the job tracker` });
      this.#effects.push({ type: 'job', status: old });
      return old;
    }
    if (old) throw new BftmrError('JOB_NOT_RUNNING', `${jobId} is not running: it ended before the job tracker restarted (${old.state})`);
    const job = this.#job(jobId);
    if (job.state === 'COMMITTING') throw new BftmrError('JOB_NOT_RUNNING', `${jobId} is committing its output and can no longer be killed`);
    const over = { SUCCEEDED: 'succeeded', FAILED: 'failed', KILLED: 'was killed' } as const;
    if (job.state !== 'RUNNING') throw new BftmrError('JOB_NOT_RUNNING', `${jobId} is not running: it ${over[job.state]}`);
    job.kill(`killed by ${who}`, this.#ctx(now));
    this.#finished(job);
    return job.status(now);
  }

  commitFailed(jobId: string, error: string, now: number): void {
    const job = this.#jobs.get(jobId);
    if (!job) return;
    job.fail('INTERNAL', `could not commit the output: ${error}`, this.#ctx(now));
    this.#finished(job);
  }

  /** The job is over: trackers may drop its intermediate data, keeping committed outputs. */
  #finished(job: JobInProgress): void {
    if (this.#ended.has(job.id)) return;
    this.#ended.add(job.id);
    this.#effects.push({ type: 'job', status: job.status(job.finishMs ?? 0) });
    for (const [trackerId, keep] of job.holders()) {
      const drop = { job_id: job.id, keep: [...keep] };
      const t = this.#trackers.get(trackerId);
      if (t?.alive) t.outbox.push({ drop_job: drop });
      else this.#dropLater(trackerId, drop);
    }
    this.#forgetOldJobs();
  }

  /**
   * Job history is bounded: past `jobHistory` finished jobs, the oldest are forgotten, their
   * records with them (as Hadoop's JobTracker retires completed jobs). A job still waiting for an
   * audit of its outputs is kept until the next time.
   */
  #forgetOldJobs(): void {
    const finished: string[] = [];
    for (const [id, r] of this.#history) if (r.state !== 'RUNNING') finished.push(id);
    for (const [id, job] of this.#jobs) {
      if (this.#ended.has(id) && job.state !== 'RUNNING' && job.state !== 'COMMITTING' && !this.#jobAudits.has(id)) finished.push(id);
    }
    for (const jobId of finished.slice(0, Math.max(0, finished.length - (this.#opts.jobHistory ?? kJobHistory)))) {
      this.#history.delete(jobId);
      this.#jobs.delete(jobId);
      this.#effects.push({ type: 'forget', jobId });
    }
  }

  #dropLater(trackerId: string, drop: DropJob): void {
    let m = this.#pendingDrops.get(trackerId);
    if (!m) this.#pendingDrops.set(trackerId, (m = new Map()));
    m.set(drop.job_id, drop);
  }

  /**
   * The records of jobs an earlier run of the job tracker kept (oldest first): `job status` and
   * `job list` show them, and no new job takes their ids. Trackers drop their data as they
   * register (see register). Those it left running, `reruns` (still RUNNING in their records), run
   * again as new jobs once the trackers holding the dfs are back, or the safe mode is over: a
   * 'rerun' effect each. (Under their old ids their attempts' ids would be reused, while trackers
   * may still run or report the old ones.)
   */
  /**
   * Verdicts earlier runs of the job tracker reached (its 'verdict' effects, kept on disk): a
   * tracker proven faulty stays proven, and blacklisted, across a restart. A tracker's record
   * takes them when it registers.
   */
  restoreVerdicts(byTracker: ReadonlyMap<string, readonly string[]>): void {
    this.#pastVerdicts = new Map(byTracker);
  }

  restoreJobs(records: readonly JobStatus[], reruns: readonly string[] = []): void {
    for (const r of records) this.#history.set(r.job_id, r);
    // A job whose rerun was submitted, though its record did not say so yet when the job tracker
    // stopped, is not run a second time: it points to that rerun.
    const rerunBy = new Map(records.filter((r) => r.state === 'RUNNING' && r.rerun_of).map((r) => [r.rerun_of, r.job_id]));
    for (const id of reruns) {
      const by = rerunBy.get(id);
      if (by) this.rerunSubmitted(id, by);
      else this.#reruns.push(id);
    }
    this.#forgetOldJobs();
  }

  /** A job an earlier run left running runs again as `newJobId` (see the 'rerun' effect). */
  rerunSubmitted(jobId: string, newJobId: string): void {
    this.#rerunOver(jobId, {
      state: 'FAILED', rerun_as: newJobId,
      error: `the job tracker stopped while the job ran, and its attempts with it; it runs again as ${newJobId}`,
    });
  }

  /** A job an earlier run left running could not run again (its input or code is gone, too few trackers, ...). */
  rerunFailed(jobId: string, error: string): void {
    this.#rerunOver(jobId, {
      state: 'FAILED', error: `the job tracker stopped while the job ran, and its attempts with it; it could not run again: ${error}`,
    });
  }

  #rerunOver(jobId: string, change: Partial<JobStatus>): void {
    const r = this.#history.get(jobId);
    if (!r) return;
    Object.assign(r, { error_code: 'JOB_INTERRUPTED' }, change);
    this.#effects.push({ type: 'job', status: r });
  }

  /** The record of a job of an earlier run (not of this one). */
  #past(jobId: string): JobStatus | undefined {
    return this.#jobs.has(jobId) ? undefined : this.#history.get(jobId);
  }

  job(jobId: string, now: number): JobStatus {
    return this.#past(jobId) ?? this.#job(jobId).status(now);
  }

  attempts(jobId: string): AttemptInfo[] {
    if (this.#past(jobId)) {
      throw new BftmrError('JOB_NOT_FOUND', `the attempts of ${jobId} were not kept across the job tracker's restart (its status was)`);
    }
    return this.#job(jobId).attempts();
  }

  #job(jobId: string): JobInProgress {
    const job = this.#jobs.get(jobId);
    if (!job) throw new BftmrError('JOB_NOT_FOUND', `no job ${jobId}`);
    return job;
  }

  jobs(now: number): JobStatus[] {
    return [...this.#history.values(), ...[...this.#jobs.values()].map((j) => j.status(now))];
  }

  /** Whether a job that runs (or commits) uses the job code with this digest. */
  usesBundle(digest: string): boolean {
    return [...this.#jobs.values()].some((j) => (j.state === 'RUNNING' || j.state === 'COMMITTING') && j.code.bundle.digest === digest);
  }

  runningJobs(): number {
    return [...this.#jobs.values()].filter((j) => j.state === 'RUNNING' || j.state === 'COMMITTING').length;
  }

  trackers(now: number): TrackerInfo[] {
    return [...this.#trackers.values()].map((t) => ({
      tracker_id: t.id, address: t.address, pid: t.pid, alive: t.alive, fault: t.fault,
      blacklisted: this.blacklisted(t), slots: t.slots, running: t.running,
      last_heartbeat_ms_ago: now - t.lastHeartbeatMs, verdicts: t.verdicts,
    }));
  }

  status(now: number, address: string, pid: number): ClusterStatusReply {
    const trackers = this.trackers(now).map((t) => {
      const held = this.#replication.holdings(t.tracker_id);
      const leaving = this.#leaving.has(t.tracker_id);
      return {
        ...t, blocks: held.blocks, stored_bytes: held.bytes, decommissioning: leaving,
        decommission_left: leaving ? this.decommissionLeft(t.tracker_id, now) : 0,
        decommission_stuck: leaving ? this.#replication.wantMoreThanOthers(t.tracker_id) : 0,
      };
    });
    return { address, pid, trackers, running_jobs: this.runningJobs() };
  }

  takeEffects(): Effect[] {
    for (const message of this.#replication.takeLog()) this.#effects.push({ type: 'log', message });
    const changes = this.#replication.takeChanged();
    if (changes.length) this.#effects.push({ type: 'replicas', changes });
    const e = this.#effects;
    this.#effects = [];
    return e;
  }
}

function leaseLapsed(): BftmrError {
  return new BftmrError('DFS_LEASE_LAPSED', 'the write\'s lease lapsed (the job tracker did not hear from its client for a whole lease), ' +
    'so blocks it stored may have been collected; write it again');
}
