/**
 * The dfs replication monitor (HDFS's BlockManager and ReplicationMonitor, as a pure state
 * machine): where each block's verified copies are, and the decisions that keep `wanted` of them
 * on live, trusted trackers.
 *
 * Events in: a block is tracked (a file refers to it) or forgotten (no file does), a tracker
 * registers with a block report or is lost, a repair is reported, a replica is proven bad, time
 * passes. Out: actions for a tracker's next heartbeat reply (`replicate_block`, `delete_blocks`),
 * the replica lists that changed (the adapter persists them in the namespace, which stays the
 * source of truth across restarts), and which replica to audit next. No I/O, no clock, no
 * randomness of its own.
 *
 * Only what a tracker did is believed, never what it says about others: a replica is added when
 * the tracker itself acknowledges a verified pull, and removed when it is lost, when it says it
 * no longer holds the block, or when the job tracker's own audit proves it bad. A tracker's claim
 * that a source served bad bytes only leads to an audit.
 */
import type { BlockHealthState, Location, ReplicationResult, TaskAction } from '../../lib/messages.ts';
import { WriteLeases } from './write_leases.ts';

export interface ReplicationOptions {
  /** Pulls one tracker is asked to make at once. */
  maxRepairsPerTracker: number;
  /** A repair not reported by then is given up (and the block rescheduled, preferably elsewhere). */
  repairTimeoutMs: number;
  /**
   * For this long after a tracker was told to delete a block, a new claim that it holds that block
   * is not believed but checked (the client may have written it just before the delete ran).
   * Longer than any put takes.
   */
  tombstoneMs: number;
  /**
   * One audit of a random replica per interval (0: none); while jobs run, one per
   * kBusyAuditSlowdown intervals (see #pickAudit).
   */
  auditIntervalMs: number;
  /** At most this many digests in one delete_blocks action. */
  maxDeletesPerAction: number;
  /**
   * A write (a put) holds a lease while it runs, renewed by its client well within this (HDFS's
   * leases). A copy no file lists is collected only when it is older than this and was stored
   * before every write that holds a lease began: it cannot be a block of a put not yet created.
   */
  writeLeaseMs: number;
}

/** A block a tracker says it holds; `ageMs`: how long ago it was stored there, when it says. */
export interface HeldBlock { digest: string; ageMs?: number }

/** Bounds on what a tracker's block reports can make the monitor hold for it. */
const kMaxPendingDeletesPerTracker = 50_000;
const kMaxTombstonesPerTracker = 200_000;
/** Blocks no file refers to whose proven-bad holders are kept (see #distrustKept). */
const kMaxDistrustKept = 100_000;
/** While jobs run, routine audits come this many times less often (see #pickAudit). */
export const kBusyAuditSlowdown = 12;

export const kReplicationDefaults: ReplicationOptions = {
  maxRepairsPerTracker: 2,
  repairTimeoutMs: 60_000,
  tombstoneMs: 60 * 60_000,
  auditIntervalMs: 2_000,
  maxDeletesPerAction: 1_000,
  writeLeaseMs: 60_000,
};

/** What the monitor needs to know about trackers, from the core. */
export interface TrackerView {
  /** Alive, not blacklisted, not being decommissioned: may hold counted replicas, serve as a source, receive repairs. */
  usable(id: string): boolean;
  /**
   * Usable, or being decommissioned: its copies do not count (others are made), but it still
   * serves them, as a repair's source, until it is gone (HDFS's decommissioning nodes).
   */
  serves(id: string): boolean;
  location(id: string): Location | undefined;
  /** Usable trackers, in a stable order. */
  usableIds(): string[];
  /** Registered and heartbeating (possibly blacklisted). */
  alive(id: string): boolean;
  /**
   * The dfs blocks running jobs read: their attempts are launched with the replica lists of
   * submit time, so a balancing move (which deletes the copy it replaces) leaves them alone.
   */
  jobBlocks(): Set<string>;
}

/**
 * Where a balancing run (HDFS's balancer) stands. Trackers are taken to have like disks: it
 * evens out the bytes each usable tracker holds, within `thresholdPercent` of their mean.
 */
export interface BalanceStatus {
  active: boolean;
  thresholdPercent: number;
  movedBlocks: number;
  movedBytes: number;
  /** Copies being made elsewhere, or checked once made, each to replace one on a fuller tracker. */
  moving: number;
  /** Moves whose pull failed or timed out. */
  failedMoves: number;
  /** How the last run ended ('balanced', why it could not go on, 'stopped'); '' while it runs or before any. */
  outcome: string;
  /** Bytes held by the fullest usable tracker minus the emptiest, and what the threshold allows. */
  spreadBytes: number;
  allowedBytes: number;
  trackers: number;
}

export interface BlockHealth {
  live: string[];
  dead: string[];
  bad: string[];
  /** Trackers ever proven to hold this block bad: never asked to copy it again. */
  distrusted: string[];
  repairing: number;
  wanted: number;
  state: BlockHealthState;
}

interface BlockState {
  digest: string;
  size: number;
  wanted: number;
  /** Trackers holding a verified copy (by their own acknowledgement), in the order learnt. */
  replicas: Set<string>;
  /** Replicas proven bad since the block last had all its copies. */
  bad: Set<string>;
  /** Every tracker proven to hold it bad (kept in #distrustKept while no file refers to it). */
  distrusted: Set<string>;
}

interface Repair {
  id: number;
  digest: string;
  target: string;
  startedMs: number;
}

export class ReplicationMonitor {
  readonly #opts: ReplicationOptions;
  readonly #random: () => number;
  readonly #trackers: TrackerView;
  /** Until then (after a job tracker restart) trackers are still re-registering: repair nothing. */
  readonly #safeUntilMs: number;
  readonly #blocks = new Map<string, BlockState>();
  readonly #byTracker = new Map<string, Set<string>>();
  /** Blocks that may have fewer live copies than wanted. */
  readonly #needy = new Set<string>();
  readonly #repairs = new Map<number, Repair>();
  readonly #repairsByTracker = new Map<string, number>();
  #repairSeq = 0;
  /** `tracker|digest` -> when a repair there failed: another target is preferred for a while. */
  readonly #failed = new Map<string, number>();
  readonly #outbox = new Map<string, TaskAction[]>();
  /**
   * Deletes not yet sent, per tracker: digest -> for a copy of unknown origin (a block report's,
   * a registration's), the tracker's clock in the request it was decided on (see DeleteBlocks: a
   * copy stored after that is kept: it may be a write's); 0 for a copy this job tracker knows
   * more of (a removed file's, one an audit found bad, an extra one).
   */
  readonly #deletes = new Map<string, Map<string, number>>();
  /** Each tracker's own clock_ms in its latest request (0: it sends none). */
  readonly #clocks = new Map<string, number>();
  /**
   * Per tracker, digest -> when a delete was sent (insertion order is send order), and whether it
   * was conditional (unless_stored_after_ms): such a delete spares any copy a write stored since.
   */
  readonly #tombstones = new Map<string, Map<string, { at: number; conditional: boolean }>>();
  /**
   * Per tracker, the blocks whose delete went out in a heartbeat reply it has not acknowledged:
   * the core sends such a reply's actions again until it is, so the delete may still run there.
   * No copy of those blocks is made on that tracker meanwhile (a repair, a move, a check that it
   * holds one): a delete that runs after the copy is made, or after a pull found the old copy
   * still there, would take the copy just counted.
   */
  readonly #deletesInFlight = new Map<string, Set<string>>();
  readonly #changed = new Set<string>();
  readonly #log: string[] = [];
  #lastAuditMs = -Infinity;
  #safeModeOver = false;
  /** The writes in progress (puts), whose blocks are not garbage though no file lists them yet. */
  readonly leases: WriteLeases;
  /**
   * Trackers proven to hold a block bad, kept when no file refers to it any more (insertion
   * order, at most kMaxDistrustKept blocks): a later file of the same bytes, whose writer may
   * have checked such a tracker before the proof, does not list it again.
   */
  readonly #distrustKept = new Map<string, Set<string>>();
  /** Bytes of the blocks listed on each tracker. */
  readonly #bytesBy = new Map<string, number>();
  /** The balancing run, if one was asked for (it ends by itself, or is stopped). */
  #balance: {
    active: boolean; thresholdPercent: number; movedBlocks: number; movedBytes: number; failedMoves: number; outcome: string;
    /** When a move last started or was checked (waiting on repairs ends a repair timeout after). */
    progressMs: number;
    /** Trackers that failed a move: given no more in this run (one that hangs would take each for a repair timeout). */
    failedTargets: Set<string>;
  } | undefined;
  /** Repairs that move a copy (balancing), by id: the tracker whose copy goes once it is made. */
  readonly #moves = new Map<number, string>();
  /** Blocks with one copy too many after a move: whose copy goes first. */
  readonly #trimFrom = new Map<string, string>();
  /**
   * Moves whose new copy the job tracker checks before the old one goes (the target's word that
   * it pulled the block is no reason to delete an honest copy): block -> the move's ends.
   */
  readonly #moveChecks = new Map<string, { from: string; to: string }>();
  /** New copies of moves to check (the core turns them into audits). */
  #moveAudits: { trackerId: string; digest: string }[] = [];

  constructor(opts: ReplicationOptions, random: () => number, trackers: TrackerView, safeUntilMs: number, startMs = -Infinity) {
    this.#opts = opts;
    this.#random = random;
    this.#trackers = trackers;
    this.#safeUntilMs = safeUntilMs;
    this.leases = new WriteLeases(opts.writeLeaseMs, startMs);
  }

  // ---------------------------------------------------------------- blocks

  /**
   * A file refers to block `digest`, wanting `wanted` copies (the most any of its files wants);
   * `claimed` are trackers that acknowledged a verified copy (at put, or as a committed output).
   */
  track(digest: string, size: number, wanted: number, claimed: readonly string[], now: number, verify = false): void {
    let b = this.#blocks.get(digest);
    if (!b) {
      b = { digest, size, wanted, replicas: new Set(), bad: new Set(), distrusted: this.#distrustKept.get(digest) ?? new Set() };
      this.#distrustKept.delete(digest);
      this.#blocks.set(digest, b);
    }
    b.wanted = wanted;
    // The namespace learns the list the monitor keeps, whatever the file said.
    this.#changed.add(digest);
    // It is wanted again: deletes not yet sent to the trackers that claim it are cancelled (a
    // copy elsewhere, such as a bad one a writer did not keep, still goes).
    for (const t of claimed) {
      const ds = this.#deletes.get(t);
      if (!ds || b.distrusted.has(t)) continue;
      ds.delete(digest);
      if (ds.size === 0) this.#deletes.delete(t);
    }
    const doubtful: string[] = [];
    for (const t of claimed) {
      if (b.replicas.has(t)) continue;
      // Proven to hold it bad since the writer checked it (a node that serves other bytes than it
      // holds passes a writer's challenge): not believed, nor given a fresh copy to lie about
      // (sim seed 9118435: a put of the same bytes re-listed it).
      if (b.distrusted.has(t)) continue;
      // Its tracker died since: the copy would only be listed, never counted. (Before the first
      // tick after a restart no tracker is back yet, and the namespace's lists are all there is.)
      if (this.#safeModeOver && !this.#trackers.alive(t)) continue;
      const deletedAt = this.#tombstones.get(t)?.get(digest)?.at;
      if (verify || (deletedAt !== undefined && now - deletedAt <= this.#opts.tombstoneMs)) doubtful.push(t);
      else this.#addReplica(b, t);
    }
    // A copy may have been deleted after its tracker acknowledged it: ask it to show it holds it
    // (a pull that succeeds at once when it does, from every copy believed above), rather than believe it.
    for (const t of doubtful) if (this.#trackers.serves(t) && !this.#targeted(digest, t) && !this.#deleting(t, digest)) this.#startRepair(b, t, now);
    this.#needy.add(digest);
  }

  /** No file refers to `digest` any more: every copy goes. */
  forget(digest: string): void {
    const b = this.#blocks.get(digest);
    if (!b) return;
    for (const t of b.replicas) this.#queueDelete(t, digest);
    for (const r of [...this.#repairs.values()]) {
      if (r.digest !== digest) continue;
      this.#endRepair(r);
      this.#queueDelete(r.target, digest); // it may have pulled it already
    }
    for (const t of b.replicas) if (this.#byTracker.get(t)?.delete(digest)) this.#addBytes(t, -b.size);
    if (b.distrusted.size > 0) {
      this.#distrustKept.set(digest, b.distrusted);
      if (this.#distrustKept.size > kMaxDistrustKept) this.#distrustKept.delete(this.#distrustKept.keys().next().value!);
    }
    this.#blocks.delete(digest);
    this.#trimFrom.delete(digest);
    this.#moveChecks.delete(digest);
    this.#needy.delete(digest);
    this.#changed.delete(digest);
  }

  /**
   * Whether a new file's block would have no copy to believe: none listed on a tracker that serves
   * it, and every tracker its writer says holds one was told to delete it since the write began
   * (its copy may be the one deleted), or is about to be, or is gone. (A file of the same bytes
   * was removed while the put ran, say: its copies, the put's among them, were deleted. Blocks
   * are shared by content.) A delete from before the write began took an older copy. A
   * conditional delete (decided on a block report) never takes a write's copy: the copy it was
   * decided on was stored before every live write began (WriteLeases.collectible), and a write that stores
   * the block again makes its copy newer than the report.
   */
  unbacked(digest: string, claimed: readonly string[], leaseId: string | undefined, now: number): boolean {
    const b = this.#blocks.get(digest);
    if (b && [...b.replicas].some((t) => this.#trackers.serves(t))) return false;
    const began = (leaseId !== undefined ? this.leases.startOf(leaseId) : undefined) ?? -Infinity;
    return claimed.every((t) => {
      if ((b?.distrusted ?? this.#distrustKept.get(digest))?.has(t)) return true; // proven to hold it bad: not believed (see track)
      if (!this.#trackers.alive(t)) return this.#safeModeOver; // before, trackers are still coming back after a restart
      const stone = this.#tombstones.get(t)?.get(digest);
      const pending = this.#deletes.get(t)?.get(digest);
      return (stone !== undefined && !stone.conditional && stone.at >= began && now - stone.at <= this.#opts.tombstoneMs) || pending === 0;
    });
  }

  isReplica(trackerId: string, digest: string): boolean {
    return this.#blocks.get(digest)?.replicas.has(trackerId) ?? false;
  }

  /** Whether the tracker is to hold a dfs copy of `digest`: a replica, or the target of a repair. */
  expects(trackerId: string, digest: string): boolean {
    return this.isReplica(trackerId, digest) || this.#targeted(digest, trackerId);
  }

  tracked(digest: string): boolean {
    return this.#blocks.has(digest);
  }

  /** The job tracker proved this replica bad (bytes that do not match, or not held): it goes. */
  proveBad(trackerId: string, digest: string): void {
    const b = this.#blocks.get(digest);
    if (!b || !b.replicas.has(trackerId)) return;
    if (this.#moveChecks.get(digest)?.to === trackerId) {
      this.#moveChecks.delete(digest);
      this.#moveFailed(trackerId);
    }
    this.#removeReplica(b, trackerId);
    b.bad.add(trackerId);
    b.distrusted.add(trackerId);
    this.#queueDelete(trackerId, digest);
  }

  /**
   * A copy on `trackerId` that no file lists, found bad by the job tracker's own check (a writer
   * did not keep it): it goes, unless a file has listed it there since.
   */
  discard(trackerId: string, digest: string): void {
    if (this.isReplica(trackerId, digest) || this.#targeted(digest, trackerId) || !this.#trackers.alive(trackerId)) return;
    this.#queueDelete(trackerId, digest);
  }

  /** The tracker's own scrubber found its copies of these blocks bad: no proof of malice, but gone. */
  selfReportedBad(trackerId: string, digests: readonly string[]): void {
    for (const d of digests) {
      const b = this.#blocks.get(d);
      if (!b || !b.replicas.has(trackerId)) continue;
      this.#removeReplica(b, trackerId);
      this.#queueDelete(trackerId, d);
    }
  }

  /** Blocks no tracker that is up holds a copy of (fsck's MISSING): a dead tracker's disk may. */
  missingBlocks(): number {
    let n = 0;
    for (const b of this.#blocks.values()) if (this.#missing(b)) n++;
    return n;
  }

  /** No copy on a tracker that is up: none to read or copy from (a dead tracker's disk may hold one). */
  #missing(b: BlockState): boolean {
    return this.#sources(b).length === 0;
  }

  /**
   * The holders of `b` a repair (to another than `target`) may pull from: those that serve; when
   * none does, those still up that do not (blacklisted), as a last resort. A source cannot make a
   * puller keep wrong bytes (it verifies the digest, as every reader does), and a blacklisted
   * tracker's copy is often right: leaving it unread loses the block when nothing else holds it.
   */
  #sources(b: BlockState, target?: string): string[] {
    const holders = [...b.replicas].filter((t) => t !== target);
    const serving = holders.filter((t) => this.#trackers.serves(t));
    return serving.length ? serving : holders.filter((t) => this.#trackers.alive(t));
  }

  health(digest: string): BlockHealth | undefined {
    const b = this.#blocks.get(digest);
    if (!b) return undefined;
    const live = [...b.replicas].filter((t) => this.#trackers.usable(t));
    const dead = [...b.replicas].filter((t) => !this.#trackers.usable(t));
    const repairing = [...this.#repairs.values()].filter((r) => r.digest === digest).length;
    // As HDFS's fsck: CORRUPT when no copy is left and copies were proven bad, MISSING when no
    // tracker that is up holds one otherwise (a dead tracker's disk may). A block with a good
    // copy left is under-replicated, however many were bad: it is copied from the good one.
    const state: BlockHealthState = b.replicas.size === 0 && b.bad.size > 0 ? 'CORRUPT'
      : this.#missing(b) ? 'MISSING'
      : live.length < b.wanted ? 'UNDER_REPLICATED' : 'HEALTHY';
    return { live, dead, bad: [...b.bad], distrusted: [...b.distrusted], repairing, wanted: b.wanted, state };
  }

  // ---------------------------------------------------------------- trackers

  /**
   * A tracker (re)registered. With a block report (`held`: the dfs blocks it holds), replicas it
   * no longer has are dropped, and blocks it holds that no file needs from it are deleted. A block
   * a file needs that is short of copies is not deleted: it may be the last copy (the tracker was
   * lost for a while, say, and the other copies went meanwhile). The tracker is asked to show it
   * holds it, by a repair that succeeds at once when it does, as a claim after a delete is in track().
   */
  trackerUp(trackerId: string, held: readonly HeldBlock[] | undefined, now: number): void {
    this.touchTracker(trackerId);
    if (!held) return;
    const holds = new Set(held.map((h) => h.digest));
    for (const d of [...(this.#byTracker.get(trackerId) ?? [])]) {
      if (holds.has(d)) continue;
      this.#removeReplica(this.#blocks.get(d)!, trackerId);
      this.#log.push(`${trackerId} no longer holds block ${d.slice(0, 12)}`);
    }
    for (const h of held) this.#unlistedCopy(trackerId, h.digest, now, h.ageMs);
  }

  /**
   * A running tracker's periodic block report (HDFS's): copies it holds that no file lists from
   * it are collected as at registration, once no write in progress can own them. (Blocks of a put
   * whose client died would otherwise stay until the tracker restarts.) Listed copies it lacks are
   * left to audits and reads: a report may have been made just before a copy arrived.
   */
  blockReport(trackerId: string, held: readonly HeldBlock[], now: number): void {
    if (!this.#trackers.alive(trackerId)) return;
    for (const h of held) this.#unlistedCopy(trackerId, h.digest, now, h.ageMs);
  }

  /**
   * The tracker holds a copy of `d` that is not listed (or says so): deleted if no file needs it
   * from there, else (the block is short) asked to show it holds it, by a repair that succeeds at
   * once when it does. A copy young enough to be a block of a write in progress is left alone.
   */
  #unlistedCopy(trackerId: string, d: string, now: number, ageMs?: number): void {
    if (this.isReplica(trackerId, d) || this.#targeted(d, trackerId)) return;
    const b = this.#blocks.get(d);
    if (!b || this.#live(b) >= b.wanted) {
      if (this.leases.collectible(ageMs, now) && this.#roomToDelete(trackerId)) this.#queueDelete(trackerId, d, this.#clocks.get(trackerId));
    } else if (this.#trackers.serves(trackerId) && !b.distrusted.has(trackerId) && !this.#deleting(trackerId, d)) {
      this.#startRepair(b, trackerId, now);
    }
  }

  /**
   * The tracker is lost: its copies no longer count, and its repairs and deletes are off. With
   * `restarted` it is back at once (registered again before it expired): its copies stay listed
   * until its block report says which it still has.
   */
  trackerDown(trackerId: string, restarted = false): void {
    if (!restarted) for (const d of [...(this.#byTracker.get(trackerId) ?? [])]) this.#removeReplica(this.#blocks.get(d)!, trackerId);
    // A move's new copy there is checked no more: the old one stays (or the new one, if it registers again, is trimmed as an extra).
    for (const [d, check] of this.#moveChecks) if (check.to === trackerId) { this.#moveChecks.delete(d); this.#trimFrom.set(d, trackerId); this.#needy.add(d); }
    for (const r of [...this.#repairs.values()]) if (r.target === trackerId) this.#endRepair(r);
    this.#outbox.delete(trackerId);
    this.#deletes.delete(trackerId);
    this.#deletesInFlight.delete(trackerId); // a tracker back from this is told nothing again
    this.#clocks.delete(trackerId);
  }

  /** The tracker acknowledged the core's last reply to it: every delete sent before has run there. */
  repliesAcknowledged(trackerId: string): void {
    this.#deletesInFlight.delete(trackerId);
  }

  /** Whether `t` is to delete its copy of `d`, or may still: no copy is made there until it has. */
  #deleting(t: string, d: string): boolean {
    return !!this.#deletes.get(t)?.has(d) || !!this.#deletesInFlight.get(t)?.has(d);
  }

  /**
   * Of the blocks listed on a tracker, how many have fewer copies elsewhere (on usable trackers)
   * than wanted: while a tracker being decommissioned has any, stopping it may cost a copy.
   */
  shortWithout(trackerId: string): number {
    const short = (b: BlockState) => {
      let elsewhere = 0;
      for (const t of b.replicas) if (t !== trackerId && this.#trackers.usable(t)) elsewhere++;
      return elsewhere < b.wanted;
    };
    let n = 0;
    for (const d of this.#byTracker.get(trackerId) ?? []) if (short(this.#blocks.get(d)!)) n++;
    // A copy it is showing it holds (it came back with a block that is short): not listed yet, maybe the only one.
    for (const r of this.#repairs.values()) {
      const b = this.#blocks.get(r.digest);
      if (r.target === trackerId && b && !b.replicas.has(trackerId) && short(b)) n++;
    }
    return n;
  }

  /**
   * Of the blocks listed on a tracker, how many want more copies than there are usable trackers
   * other than it: while a tracker being decommissioned has any, it can never leave (until
   * another tracker joins, or their replication is lowered).
   */
  wantMoreThanOthers(trackerId: string): number {
    const others = this.#trackers.usableIds().filter((t) => t !== trackerId).length;
    let n = 0;
    for (const d of this.#byTracker.get(trackerId) ?? []) if (this.#blocks.get(d)!.wanted > others) n++;
    return n;
  }

  /** The dfs blocks listed on a tracker (its verified copies), and their bytes. */
  holdings(trackerId: string): { blocks: number; bytes: number } {
    return { blocks: this.#byTracker.get(trackerId)?.size ?? 0, bytes: this.#bytesBy.get(trackerId) ?? 0 };
  }

  /** The tracker's usability may have changed (blacklisted): its blocks are looked at again. */
  touchTracker(trackerId: string): void {
    for (const d of this.#byTracker.get(trackerId) ?? []) this.#needy.add(d);
  }

  // ---------------------------------------------------------------- reports

  /**
   * A tracker reports a repair. Returns the sources it says served bad bytes or did not hold the
   * block and that are still listed as replicas: the caller audits them (the reporter may lie).
   */
  repairResult(trackerId: string, r: ReplicationResult, now: number): string[] {
    const repair = this.#repairs.get(r.repair_id);
    if (!repair || repair.target !== trackerId || repair.digest !== r.digest) {
      // A repair given up, of a block no longer wanted, or asked for by this job tracker's last
      // run: if it did pull the block, the copy is garbage, or welcome if the block is short.
      if (r.ok) this.#unlistedCopy(trackerId, r.digest, now);
      return [];
    }
    const movedFrom = this.#moves.get(repair.id);
    this.#endRepair(repair);
    const b = this.#blocks.get(r.digest)!;
    if (r.ok) {
      this.#addReplica(b, trackerId);
      if (movedFrom !== undefined) {
        this.#moveChecks.set(b.digest, { from: movedFrom, to: trackerId });
        this.#moveAudits.push({ trackerId, digest: b.digest });
      }
    } else {
      if (movedFrom !== undefined) this.#moveFailed(trackerId);
      this.#failed.set(`${trackerId}|${r.digest}`, now);
      this.#log.push(`repair of ${r.digest.slice(0, 12)} on ${trackerId} failed: ${r.error}`);
    }
    this.#needy.add(r.digest);
    return r.bad_sources.filter((s) => s !== trackerId && b.replicas.has(s));
  }

  // ---------------------------------------------------------------- balancing

  /**
   * The operator asks for the dfs to be balanced (HDFS's balancer), or (`on` false) for a run to
   * stop: moves under way finish. A move copies a block from a fuller usable tracker to an
   * emptier one, as a repair does, and only once the copy is verified is the fuller one's deleted,
   * so a block never has fewer copies for it. The run ends when every usable tracker holds within
   * `thresholdPercent` of their mean, or when no move would bring the fullest and emptiest closer.
   */
  balance(on: boolean, thresholdPercent: number, now: number): void {
    if (!on) {
      if (this.#balance?.active) {
        this.#balance.active = false;
        this.#balance.outcome = 'stopped';
        this.#log.push('balancing stopped by the operator');
      }
      return;
    }
    if (this.#balance?.active) {
      this.#balance.thresholdPercent = thresholdPercent;
      return;
    }
    this.#balance = { active: true, thresholdPercent, movedBlocks: 0, movedBytes: 0, failedMoves: 0, outcome: '', failedTargets: new Set(), progressMs: now };
    this.#log.push(`balancing the dfs to within ${thresholdPercent}% of the mean bytes per tracker`);
  }

  balanceStatus(): BalanceStatus {
    const b = this.#balance;
    const thresholdPercent = b?.thresholdPercent ?? 0;
    const loads = this.#trackers.usableIds().map((t) => this.#bytesBy.get(t) ?? 0);
    const mean = loads.length ? loads.reduce((x, y) => x + y, 0) / loads.length : 0;
    return {
      active: b?.active ?? false,
      thresholdPercent,
      movedBlocks: b?.movedBlocks ?? 0,
      movedBytes: b?.movedBytes ?? 0,
      failedMoves: b?.failedMoves ?? 0,
      moving: this.#moves.size + this.#moveChecks.size,
      outcome: b?.outcome ?? '',
      spreadBytes: loads.length ? Math.max(...loads) - Math.min(...loads) : 0,
      allowedBytes: Math.floor(mean * thresholdPercent / 100),
      trackers: loads.length,
    };
  }

  /**
   * Starts the moves a balancing run can make now: from the fullest usable trackers to the
   * emptiest, counting copies under way as made and copies a move will replace as gone, within
   * the repairs each target may take at once. Repairs of short blocks came first (in #schedule).
   */
  #balanceStep(now: number): void {
    const run = this.#balance!;
    const ids = this.#trackers.usableIds();
    if (ids.length < 2) return this.#endBalance('fewer than two usable trackers');
    const load = new Map(ids.map((t) => [t, this.#bytesBy.get(t) ?? 0]));
    const shift = (t: string, n: number) => { const l = load.get(t); if (l !== undefined) load.set(t, l + n); };
    for (const r of this.#repairs.values()) shift(r.target, this.#blocks.get(r.digest)?.size ?? 0);
    for (const [id, from] of this.#moves) shift(from, -(this.#blocks.get(this.#repairs.get(id)!.digest)?.size ?? 0));
    for (const [d, from] of this.#trimFrom) shift(from, -(this.#blocks.get(d)?.size ?? 0));
    for (const [d, { from }] of this.#moveChecks) shift(from, -(this.#blocks.get(d)?.size ?? 0));
    let total = 0;
    for (const l of load.values()) total += l;
    const pinned = this.#trackers.jobBlocks();
    const allowed = (total / ids.length) * run.thresholdPercent / 100;
    for (;;) {
      const byLoad = [...ids].sort((x, y) => load.get(y)! - load.get(x)!);
      if (load.get(byLoad[0]!)! - load.get(byLoad.at(-1)!)! <= allowed) {
        if (this.#moves.size === 0 && this.#trimFrom.size === 0 && this.#moveChecks.size === 0) this.#endBalance('balanced');
        return;
      }
      let move: { b: BlockState; from: string; to: string } | undefined;
      for (const from of byLoad) {
        for (const to of [...byLoad].reverse()) {
          const gap = load.get(from)! - load.get(to)!;
          if (gap <= allowed) break; // emptier targets come first: the rest are closer still
          if ((this.#repairsByTracker.get(to) ?? 0) >= this.#opts.maxRepairsPerTracker || run.failedTargets.has(to)) continue;
          const b = this.#movable(from, to, gap, pinned);
          if (b) { move = { b, from, to }; break; }
        }
        if (move) break;
      }
      if (!move) {
        // Moves under way, or their new copies being checked: wait. Repairs under way (the targets
        // may be busy with them, or the blocks short): wait too, but not for ever (a faulty
        // tracker may fail its repairs for ever), as HDFS's balancer gives up without progress.
        if (this.#moves.size > 0 || this.#moveChecks.size > 0) return;
        if (this.#repairs.size > 0 && now - run.progressMs < this.#opts.repairTimeoutMs) return;
        // A target that failed a move gets no more in this run: rather than wait on one that may
        // always fail, the run ends, as HDFS's balancer does without progress.
        this.#endBalance(run.failedMoves > 0
          ? `stuck: ${run.failedMoves} move${run.failedMoves === 1 ? '' : 's'} failed (the pull, or the check of the new copy); try again later`
          : 'as balanced as its blocks allow: no move would bring the fullest and emptiest trackers closer');
        return;
      }
      const { b, from, to } = move;
      this.#moves.set(this.#startRepair(b, to, now, from), from);
      run.progressMs = now;
      load.set(from, load.get(from)! - b.size);
      load.set(to, load.get(to)! + b.size);
    }
  }

  /**
   * A block on `from` that `to` may take in a move: no running job reads it, it has its copies (short ones are repairs'),
   * none is under way or awaiting a trim, `to` holds none (nor is to delete one, or may still:
   * #deletesInFlight), was never proven to hold it bad and did not fail to pull it lately, and it is smaller than the gap, so the move brings the two closer.
   * Of those, the one that brings them closest.
   */
  #movable(from: string, to: string, gap: number, pinned: Set<string>): BlockState | undefined {
    let best: BlockState | undefined;
    for (const d of this.#byTracker.get(from) ?? []) {
      const b = this.#blocks.get(d)!;
      if (b.size >= gap || pinned.has(d) || b.replicas.has(to) || b.distrusted.has(to) || this.#trimFrom.has(d) || this.#moveChecks.has(d) ||
        this.#failed.has(`${to}|${d}`) || this.#deleting(to, d) || this.#inFlight(d) > 0 || this.#live(b) < b.wanted) continue;
      if (!best || Math.abs(gap - 2 * b.size) < Math.abs(gap - 2 * best.size)) best = b;
    }
    return best;
  }

  /** The new copies of moves that the job tracker should check now. */
  takeMoveAudits(): { trackerId: string; digest: string }[] {
    return this.#moveAudits.splice(0);
  }

  /**
   * The job tracker checked a move's new copy: `ok`, it holds the block, and the copy it replaces
   * goes; otherwise (no answer: no proof either way) the new copy goes instead, and the block is
   * as it was. A copy proven bad goes by proveBad.
   */
  moveChecked(trackerId: string, digest: string, ok: boolean, now: number): void {
    const check = this.#moveChecks.get(digest);
    if (!check || check.to !== trackerId) return;
    this.#moveChecks.delete(digest);
    const b = this.#blocks.get(digest);
    if (!b) return;
    if (this.#balance) this.#balance.progressMs = now;
    if (ok) {
      this.#trimFrom.set(digest, check.from);
      if (this.#balance) {
        this.#balance.movedBlocks++;
        this.#balance.movedBytes += b.size;
      }
    } else {
      this.#trimFrom.set(digest, check.to);
      this.#moveFailed(check.to);
    }
    this.#needy.add(digest);
  }

  #moveFailed(target: string): void {
    if (!this.#balance) return;
    this.#balance.failedMoves++;
    this.#balance.failedTargets.add(target);
  }

  #endBalance(outcome: string): void {
    const run = this.#balance!;
    run.active = false;
    run.outcome = outcome;
    this.#log.push(`balancing over, ${outcome}: ${run.movedBlocks} blocks moved`);
  }

  // ---------------------------------------------------------------- time

  /** After a restart: whether every tracker listed with a copy of a block has registered again. */
  holdersBack(): boolean {
    for (const [t, held] of this.#byTracker) if (held.size > 0 && !this.#trackers.alive(t)) return false;
    return true;
  }

  /** Schedules repairs for blocks short of copies; returns a replica to audit, when one is due. */
  tick(now: number, busy = false): { trackerId: string; digest: string } | undefined {
    this.#expire(now);
    if (now < this.#safeUntilMs) return undefined;
    if (!this.#safeModeOver) {
      // Replicas listed on trackers that did not come back after a restart are lost like any other.
      this.#safeModeOver = true;
      for (const t of [...this.#byTracker.keys()]) if (!this.#trackers.alive(t)) this.trackerDown(t);
    }
    this.#schedule(now);
    if (this.#balance?.active) this.#balanceStep(now);
    return this.#pickAudit(now, busy);
  }

  #expire(now: number): void {
    for (const r of [...this.#repairs.values()]) {
      if (now - r.startedMs <= this.#opts.repairTimeoutMs) continue;
      if (this.#moves.has(r.id)) this.#moveFailed(r.target);
      this.#endRepair(r);
      this.#failed.set(`${r.target}|${r.digest}`, now);
      this.#needy.add(r.digest);
      this.#log.push(`repair of ${r.digest.slice(0, 12)} on ${r.target} timed out`);
    }
    for (const [k, at] of this.#failed) if (now - at > this.#opts.repairTimeoutMs) this.#failed.delete(k);
    for (const [t, stones] of this.#tombstones) {
      for (const [d, { at }] of stones) {
        if (now - at <= this.#opts.tombstoneMs) break; // in send order: the rest are younger
        stones.delete(d);
      }
      if (stones.size === 0) this.#tombstones.delete(t);
    }
  }

  #schedule(now: number): void {
    const usable = this.#trackers.usableIds();
    const order: { b: BlockState; live: number }[] = [];
    for (const d of this.#needy) {
      const b = this.#blocks.get(d);
      if (!b) { this.#needy.delete(d); continue; }
      const live = this.#live(b);
      if (live >= b.wanted) {
        // More copies than wanted (its replication was lowered, or a lost tracker came back):
        // the extra ones go, once no repair of it is under way.
        // A move's new copy is checked before either goes (moveChecked).
        if (live > b.wanted && this.#inFlight(d) === 0 && !this.#moveChecks.has(d)) this.#trim(b, live - b.wanted);
        else if (live === b.wanted) this.#trimFrom.delete(d); // a copy was lost meanwhile: the move made up for it
        this.#needy.delete(d);
        b.bad.clear();
        continue;
      }
      this.#trimFrom.delete(d);
      order.push({ b, live });
    }
    // The blocks closest to being lost first.
    order.sort((x, y) => x.live - y.live);
    for (const { b, live } of order) {
      if (!usable.some((t) => (this.#repairsByTracker.get(t) ?? 0) < this.#opts.maxRepairsPerTracker)) break; // all busy
      if (live === 0 && this.#sources(b).length === 0) continue; // no copy left to copy from
      let need = b.wanted - live - this.#inFlight(b.digest);
      if (need <= 0) continue;
      // A tracker once proven to hold it bad is not given it again (though the block had all its copies since).
      const candidates = usable.filter((t) => !b.replicas.has(t) && !b.distrusted.has(t) && !this.#targeted(b.digest, t) &&
        !this.#deleting(t, b.digest) && (this.#repairsByTracker.get(t) ?? 0) < this.#opts.maxRepairsPerTracker);
      // Targets whose last try failed go last.
      const fresh = candidates.filter((t) => !this.#failed.has(`${t}|${b.digest}`));
      const stale = candidates.filter((t) => this.#failed.has(`${t}|${b.digest}`));
      for (const pool of [fresh, stale]) {
        while (need > 0 && pool.length > 0) {
          const [t] = pool.splice(Math.floor(this.#random() * pool.length), 1);
          this.#startRepair(b, t!, now);
          need--;
        }
      }
    }
  }

  /**
   * A routine audit, once per interval; `busy`: jobs run, and audits come kBusyAuditSlowdown times
   * less often. The job tracker's first audit of a block fetches all of it (block_audit.ts: that
   * is how it mints the challenges later audits spend), and on a small cluster one such fetch every
   * few seconds took 13% from a job's time (an f=0 word count of 242 MB on 2 cores: 14.7 s
   * without audits, 17.0 s with; as HDFS's block scanner, checking in the background yields to
   * the work in the foreground). They still come while jobs run, so no job keeps them away.
   */
  #pickAudit(now: number, busy: boolean): { trackerId: string; digest: string } | undefined {
    const every = this.#opts.auditIntervalMs * (busy ? kBusyAuditSlowdown : 1);
    if (this.#opts.auditIntervalMs <= 0 || now < this.#lastAuditMs + every) return undefined;
    this.#lastAuditMs = now;
    const holders = this.#trackers.usableIds().filter((t) => (this.#byTracker.get(t)?.size ?? 0) > 0);
    if (holders.length === 0) return undefined;
    const trackerId = holders[Math.floor(this.#random() * holders.length)]!;
    const blocks = [...this.#byTracker.get(trackerId)!];
    return { trackerId, digest: blocks[Math.floor(this.#random() * blocks.length)]! };
  }

  // ---------------------------------------------------------------- out

  /** The actions for a tracker's next heartbeat reply. */
  take(trackerId: string, now: number): TaskAction[] {
    const actions = this.#outbox.get(trackerId) ?? [];
    this.#outbox.delete(trackerId);
    const deletes = this.#deletes.get(trackerId);
    if (deletes) {
      const digests = [...deletes.keys()].slice(0, this.#opts.maxDeletesPerAction);
      // Copies of unknown origin go under one condition, the earliest decision's (the others are
      // kept a block report longer at worst); the rest go without one.
      const sure = digests.filter((d) => !deletes.get(d));
      const unsure = digests.filter((d) => deletes.get(d));
      const basis = unsure.reduce((m, d) => Math.min(m, deletes.get(d)!), Infinity);
      let stones = this.#tombstones.get(trackerId);
      if (!stones) this.#tombstones.set(trackerId, (stones = new Map()));
      let inFlight = this.#deletesInFlight.get(trackerId);
      if (!inFlight) this.#deletesInFlight.set(trackerId, (inFlight = new Set()));
      for (const d of digests) {
        inFlight.add(d);
        const conditional = !!deletes.get(d);
        deletes.delete(d);
        stones.delete(d); // re-inserted: the map stays in send order
        stones.set(d, { at: now, conditional });
      }
      // A tracker's tombstones are bounded (one that reports made-up blocks gets them deleted by
      // the thousand): past the bound, its oldest go, and a claim of those is believed again.
      for (const d of stones.keys()) {
        if (stones.size <= kMaxTombstonesPerTracker) break;
        stones.delete(d);
      }
      if (deletes.size === 0) this.#deletes.delete(trackerId);
      if (sure.length) actions.push({ delete_blocks: { digests: sure } });
      if (unsure.length) actions.push({ delete_blocks: { digests: unsure, unless_stored_after_ms: basis } });
    }
    return actions;
  }

  /** Blocks whose replica list changed (or were tracked) since the last call, with the list now. */
  takeChanged(): { digest: string; replicas: string[] }[] {
    const out = [...this.#changed].flatMap((d) => {
      const b = this.#blocks.get(d);
      return b ? [{ digest: d, replicas: [...b.replicas] }] : [];
    });
    this.#changed.clear();
    return out;
  }

  takeLog(): string[] {
    return this.#log.splice(0);
  }

  // ---------------------------------------------------------------- internals

  #addReplica(b: BlockState, t: string): void {
    if (b.replicas.has(t)) return;
    b.replicas.add(t);
    b.bad.delete(t);
    let mine = this.#byTracker.get(t);
    if (!mine) this.#byTracker.set(t, (mine = new Set()));
    mine.add(b.digest);
    this.#addBytes(t, b.size);
    this.#changed.add(b.digest);
  }

  #removeReplica(b: BlockState, t: string): void {
    if (!b.replicas.delete(t)) return;
    if (this.#byTracker.get(t)?.delete(b.digest)) this.#addBytes(t, -b.size);
    this.#changed.add(b.digest);
    this.#needy.add(b.digest);
  }

  #addBytes(t: string, n: number): void {
    const bytes = (this.#bytesBy.get(t) ?? 0) + n;
    if (bytes > 0) this.#bytesBy.set(t, bytes);
    else this.#bytesBy.delete(t);
  }

  #queueDelete(t: string, digest: string, basis = 0): void {
    let ds = this.#deletes.get(t);
    if (!ds) this.#deletes.set(t, (ds = new Map()));
    ds.set(digest, Math.min(basis, ds.get(digest) ?? basis));
  }

  /**
   * A tracker's own clock when it made the request being handled (register, heartbeat): copies
   * it lists there were stored by then. Its clock is never compared with ours.
   */
  trackerClock(trackerId: string, clockMs: number | undefined): void {
    if (clockMs) this.#clocks.set(trackerId, clockMs);
    else this.#clocks.delete(trackerId);
  }

  /**
   * Whether a copy no file needs may be queued for deletion on `t`: its deletes waiting to be sent
   * are bounded, or a tracker reporting made-up blocks would grow them without end. What is left
   * out goes after a later block report.
   */
  #roomToDelete(t: string): boolean {
    return (this.#deletes.get(t)?.size ?? 0) < kMaxPendingDeletesPerTracker;
  }

  /**
   * Unlists `n` copies of `b` on usable trackers and deletes them there: the copy a move replaced
   * first, then those on the trackers that hold the most (as HDFS deletes the replica on the node
   * with the least space left), ties at random.
   */
  #trim(b: BlockState, n: number): void {
    const from = this.#trimFrom.get(b.digest);
    this.#trimFrom.delete(b.digest);
    const extra = [...b.replicas].filter((t) => this.#trackers.usable(t))
      .map((t) => ({ t, first: t === from ? 0 : 1, bytes: this.#bytesBy.get(t) ?? 0, r: this.#random() }))
      .sort((x, y) => x.first - y.first || y.bytes - x.bytes || x.r - y.r).slice(0, n).map(({ t }) => t);
    for (const t of extra) {
      this.#removeReplica(b, t);
      this.#queueDelete(t, b.digest);
    }
    this.#log.push(`block ${b.digest.slice(0, 12)} has ${n} more copies than the ${b.wanted} wanted: deleting those on ${extra.join(', ')}`);
  }

  /** Copies of `b` on usable trackers. */
  #live(b: BlockState): number {
    let n = 0;
    for (const t of b.replicas) if (this.#trackers.usable(t)) n++;
    return n;
  }

  #targeted(digest: string, t: string): boolean {
    for (const r of this.#repairs.values()) if (r.digest === digest && r.target === t) return true;
    return false;
  }

  #inFlight(digest: string): number {
    let n = 0;
    for (const r of this.#repairs.values()) if (r.digest === digest) n++;
    return n;
  }

  /** Asks `target` to pull a verified copy of `b`; returns the repair's id. */
  #startRepair(b: BlockState, target: string, now: number, firstSource?: string): number {
    const repair: Repair = { id: ++this.#repairSeq, digest: b.digest, target, startedMs: now };
    this.#repairs.set(repair.id, repair);
    this.#repairsByTracker.set(target, (this.#repairsByTracker.get(target) ?? 0) + 1);
    // Sources in random order spread the load; the target verifies whatever it gets.
    // A move pulls from the copy it replaces first.
    const sources = this.#sources(b, target)
      .map((t) => ({ t, r: t === firstSource ? -1 : this.#random() })).sort((x, y) => x.r - y.r)
      .map(({ t }) => this.#trackers.location(t)).filter((l): l is Location => l !== undefined);
    let box = this.#outbox.get(target);
    if (!box) this.#outbox.set(target, (box = []));
    box.push({ replicate_block: { repair_id: repair.id, digest: b.digest, size: b.size, sources } });
    return repair.id;
  }

  #endRepair(r: Repair): void {
    this.#repairs.delete(r.id);
    this.#moves.delete(r.id);
    const n = (this.#repairsByTracker.get(r.target) ?? 1) - 1;
    if (n > 0) this.#repairsByTracker.set(r.target, n);
    else this.#repairsByTracker.delete(r.target);
  }
}
