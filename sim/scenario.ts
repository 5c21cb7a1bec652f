/**
 * What a seed makes of a simulated cluster: its trackers and their faults, the jobs, dfs files and
 * puts, network losses, job tracker restarts, decommissioning and balancing, all drawn from the
 * seed, and the one-line description a failing seed prints.
 */
import { Prng } from './prng.ts';

/** Task tracker faults, as in tasktracker/faults.ts, plus a reducer that falsely blames its sources. */
export const FAULT_MODES = [
  'crash',          // stops (heartbeats, attempts, serving) at some time, or on its first task like the real one
  'hang',           // accepts attempts, never reports them, keeps heartbeating
  'slow',           // right results, reported late
  'corrupt-map',    // its map outputs differ (on some partitions); it stores and reports them consistently
  'corrupt-reduce', // the same for reduce outputs
  'lie-digest',     // right data, wrong digests reported (so fetches of its outputs fail)
  'serve-corrupt',  // right digests, other bytes served to every reader
  'equivocate',     // other bytes served on every other read
  'collude',        // every colluder produces the same wrong map outputs
  'blame-sources',  // a reducer (or a repair) that claims its sources served bad bytes
  'corrupt-blocks', // from some time on, serves altered bytes of the dfs blocks it holds (and of those it stores later)
  'drop-blocks',    // from some time on, loses the bytes of the dfs blocks it holds and stores, but keeps claiming them
] as const;
export type FaultMode = (typeof FAULT_MODES)[number];

/** Network misbehaviour, which a seed may turn on in addition to tracker faults. */
export const NETWORK_FAULTS = [
  'loss-request',   // a heartbeat request is lost: the tracker times out and resends its reports
  'loss-reply',     // a heartbeat reply is lost after the core acted on the request
  'late-delivery',  // a message arrives after the sender's deadline (a late reply is dropped by the client)
] as const;
export type NetworkFault = (typeof NETWORK_FAULTS)[number];

/** Other events a seed may bring. */
export const OTHER_FEATURES = [
  'jt-restart',     // the job tracker is killed and started again
  'dfs-write',      // puts run beside the jobs, some abandoned by a client that dies
  'decommission',   // the operator decommissions an honest tracker and stops it once the core says it may
  'balance',        // the operator balances the dfs (and may stop the run)
] as const;

export type Feature = FaultMode | NetworkFault | (typeof OTHER_FEATURES)[number];
export const FEATURES: readonly Feature[] = [...FAULT_MODES, ...NETWORK_FAULTS, ...OTHER_FEATURES];

export function isFeature(s: string): s is Feature {
  return (FEATURES as readonly string[]).includes(s);
}

export interface TrackerPlan {
  mode: FaultMode | 'none';
  slots: number;
  /** crash: when (ms after the start), or on its first launched attempt. */
  crashAt?: number | 'first-task';
  /** slow: how late each attempt is reported. */
  slowMs?: number;
  /** corrupt-map, collude: which partitions of a map output are wrong (none, in a job with fewer). */
  corruptPartitions?: number[];
  /** corrupt-blocks, drop-blocks: when it starts lying about its dfs blocks (it passed the writer's check). */
  lieAtMs?: number;
}

/**
 * A dfs file put before the first job: `blocks` blocks of `replication` copies; removed at
 * `rmAtMs`, and its replication changed (`dfs setrep`) at `setrep.atMs`, if given.
 */
export interface DfsFilePlan {
  blocks: number;
  replication: number;
  rmAtMs?: number;
  setrep?: { atMs: number; replication: number };
}

/**
 * A put while the cluster runs (dfs/client.ts put): a lease taken at `atMs`, then a block stored on
 * `replication` trackers every `blockEveryMs`; the file is created after the last, unless the
 * client dies once `abandonAfter` blocks are stored (its lease lapses, its blocks are garbage).
 */
export interface WritePlan {
  atMs: number;
  blocks: number;
  replication: number;
  blockEveryMs: number;
  abandonAfter?: number;
  /**
   * The client is cut off from the job tracker from its block `afterBlock` on, for `ms`: it goes
   * on storing blocks but renews nothing. Past a lease, its blocks may be collected, and its file
   * must then be refused.
   */
  stall?: { afterBlock: number; ms: number };
  /**
   * It puts the same bytes as write `sameAs` (a user putting a file again after a put of it
   * died): its blocks are those blocks, which trackers may still hold, unlisted, from before.
   */
  sameAs?: number;
}

export interface JobPlan {
  submitAtMs: number;
  /** A user kills the job then (`bftmr job kill`), if it is still running. */
  killAtMs?: number;
  maps: number;
  reduces: number;
}

export interface Scenario {
  seed: number;
  f: number;
  trackers: TrackerPlan[];
  jobs: JobPlan[];
  heartbeatIntervalMs: number;
  trackerExpiryMs: number;
  blacklistAfterVerdicts: number;
  lateFactor: number;
  lateFloorMs: number;
  /** The hard deadline's floor (its factor is the core's default): past it a heartbeating tracker's attempt earns a verdict. */
  deadlineFloorMs: number;
  /** How long a free slot waits before it takes a fresh map alone (CoreOptions.pairWaitMs). */
  pairWaitMs: number;
  /** How long a tracker waits for a heartbeat reply before it gives up and resends. */
  rpcDeadlineMs: number;
  network: { lossRequest: number; lossReply: number; maxDelayMs: number; lateChance: number };
  /** Faulty trackers (by index), f at most unless the run asked for more. */
  faulty: number[];
  /** dfs files (none in some seeds), and when the client reads every file still there. */
  dfs: DfsFilePlan[];
  dfsReadsAtMs: number[];
  /**
   * The job tracker is killed then and started again at once (jobtracker/server.ts on restart):
   * its in-memory state goes, the namespace and job records stay; trackers register again, and
   * the jobs it was running run again as new jobs.
   */
  jtRestartsAtMs: number[];
  /** Puts while the cluster runs; a put's lease lapses after writeLeaseMs; trackers report their blocks every blockReportMs. */
  writes: WritePlan[];
  writeLeaseMs: number;
  blockReportMs: number;
  /**
   * The operator decommissions this honest tracker then (with a spare: 2f+2 trackers or more) and
   * stops it once the core says none of its blocks is short elsewhere.
   */
  decommission?: { atMs: number; index: number };
  /** The operator balances the dfs then (`bftmr dfs balance`), and may stop the run at stopAtMs. */
  balance?: { atMs: number; thresholdPercent: number; stopAtMs?: number };
  /** Every tracker runs on one host with this many cores (a local cluster), which they share (host_share.ts). */
  sharedCores?: number;
}

export interface SimOptions {
  seed: number;
  /** Features the scenario must not use (fault modes the core cannot survive yet, say). */
  exclude?: Iterable<Feature>;
  /** Called with every trace line (the --verbose output). */
  trace?: (line: string) => void;
  /** Simulated time after which liveness is judged. */
  maxSimMs?: number;
  /**
   * f+1 colluding trackers instead of at most f: the protocol cannot be safe then, so a run with
   * this set shows that the safety checks do catch a wrong commit. Liveness is not claimed.
   */
  tooManyFaults?: boolean;
}

/**
 * The scenario of a seed. Each concern draws from its own stream, and every draw happens whether
 * or not its feature is excluded, so excluding a feature changes only what uses it: a seed that
 * fails with no excluded feature in play fails the same way with any exclusion list.
 */
export function scenarioFor(opts: SimOptions): Scenario {
  const root = new Prng(opts.seed);
  const cluster = root.fork();
  const faults = root.fork();
  const work = root.fork();
  const net = root.fork();
  const storage = root.fork(); // drawn after the others: the streams above stay what they were before the dfs was simulated
  const users = root.fork();
  const restarts = root.fork();
  const writing = root.fork();
  const ops = root.fork();
  const balancing = root.fork();
  const stalls = root.fork();
  const shapes = root.fork(); // drawn last, as storage above: the streams before it stay as they were
  const hosting = root.fork(); // and after it, this one
  const excluded = new Set(opts.exclude ?? []);
  const allowed = FAULT_MODES.filter((m) => !excluded.has(m));
  const maxReduces = 4;

  const f = cluster.pick([0, 1, 1, 1, 2, 2]);
  const n = 2 * f + 1 + cluster.int(0, 2);
  const heartbeatIntervalMs = cluster.pick([250, 500, 1000]);
  const trackerExpiryMs = heartbeatIntervalMs * cluster.int(6, 12);
  const blacklistAfterVerdicts = cluster.pick([0, 1, 2, 5]);
  const lateFactor = cluster.pick([1.5, 2, 3]);
  const lateFloorMs = cluster.pick([500, 2_000, 5_000]);
  const trackers: TrackerPlan[] = Array.from({ length: n }, () => ({ mode: 'none' as const, slots: cluster.int(1, 3) }));

  const howMany = faults.next();
  let faultyCount = f === 0 ? 0 : howMany < 0.15 ? 0 : howMany < 0.75 ? f : 1 + Math.floor(faults.next() * f);
  if (opts.tooManyFaults) faultyCount = Math.min(n, f + 1);
  const order = trackers.map((_, i) => ({ i, k: faults.next() })).sort((a, b) => a.k - b.k);
  const faulty = order.slice(0, faultyCount).map((o) => o.i).sort((a, b) => a - b);
  const colludeDraw = faults.chance(0.4);
  const allCollude = opts.tooManyFaults || (!excluded.has('collude') && faultyCount >= 2 && colludeDraw);
  const collusionPartitions = someOf(faults, maxReduces);
  const perTracker = trackers.map(() => faults.fork());
  for (const i of faulty) {
    const plan = trackers[i]!;
    const r = perTracker[i]!;
    let mode: FaultMode | 'none' = r.pick(FAULT_MODES);
    if (excluded.has(mode)) mode = allowed.length ? r.pick(allowed) : 'none';
    plan.mode = allCollude ? 'collude' : mode;
    const crashAt = r.chance(0.3) ? 'first-task' as const : r.int(0, 40_000);
    const slowMs = r.int(1_000, 30_000);
    const corruptPartitions = someOf(r, maxReduces);
    const lieAtMs = r.chance(0.3) ? 0 : r.int(0, 60_000);
    if (plan.mode === 'corrupt-blocks' || plan.mode === 'drop-blocks') plan.lieAtMs = lieAtMs;
    if (plan.mode === 'crash') plan.crashAt = crashAt;
    if (plan.mode === 'slow') plan.slowMs = slowMs;
    if (plan.mode === 'corrupt-map') plan.corruptPartitions = corruptPartitions;
    if (plan.mode === 'collude') plan.corruptPartitions = collusionPartitions;
  }
  const faultyIndexes = faulty.filter((i) => trackers[i]!.mode !== 'none');

  const jobs: JobPlan[] = Array.from({ length: work.int(1, 3) }, (_, k) => ({
    submitAtMs: k === 0 ? 0 : work.int(0, 20_000),
    maps: work.int(1, 6),
    reduces: work.int(1, maxReduces),
  }));
  // Some jobs are map-only (no reduces): their maps' outputs are what they commit.
  for (const j of jobs) if (shapes.chance(0.2)) j.reduces = 0;

  const rate = (feature: NetworkFault, rates: number[]) => {
    const on = net.chance(0.5);
    const value = net.pick(rates);
    return on && !excluded.has(feature) ? value : 0;
  };
  const lossRequest = rate('loss-request', [0.01, 0.03, 0.1]);
  const lossReply = rate('loss-reply', [0.01, 0.03, 0.1]);
  const lateChance = rate('late-delivery', [0.005, 0.02]);

  // f+1 copies at least, so one is on an honest tracker whatever the faulty ones do.
  const dfs: DfsFilePlan[] = storage.chance(0.3) ? [] : Array.from({ length: storage.int(1, 4) }, () => {
    const replication = () => storage.int(Math.max(1, f + 1), Math.min(n, Math.max(3, f + 1)));
    const file: DfsFilePlan = { blocks: storage.int(1, 5), replication: replication() };
    if (storage.chance(0.25)) file.rmAtMs = storage.int(0, 60_000);
    const setrep = { atMs: storage.int(0, 60_000), replication: replication() };
    if (storage.chance(0.3)) file.setrep = setrep;
    return file;
  });
  const dfsReadsAtMs = Array.from({ length: storage.int(1, 3) }, () => storage.int(1_000, 90_000)).sort((a, b) => a - b);
  for (const job of jobs) {
    const killAtMs = job.submitAtMs + users.int(0, 20_000);
    if (users.chance(0.1)) job.killAtMs = killAtMs;
  }
  // The second, if any, may come before the trackers are all back from the first (its safe mode).
  const restartAt = restarts.int(500, 30_000);
  const second = restarts.chance(0.3) ? [restartAt + restarts.int(100, 15_000)] : [];
  const jtRestartsAtMs = restarts.chance(0.25) && !excluded.has('jt-restart') ? [restartAt, ...second] : [];
  const writeLeaseMs = writing.pick([1_000, 5_000, 20_000]);
  const blockReportMs = writing.pick([500, 2_000, 10_000]);
  const writesOn = writing.chance(0.5);
  const writes: WritePlan[] = Array.from({ length: writing.int(1, 3) }, () => {
    const blocks = writing.int(1, 6);
    const plan: WritePlan = {
      atMs: writing.int(0, 40_000), blocks, blockEveryMs: writing.int(100, 8_000),
      replication: writing.int(Math.max(1, f + 1), Math.min(n, Math.max(3, f + 1))),
    };
    const abandonAfter = writing.int(0, blocks);
    if (writing.chance(0.5)) plan.abandonAfter = abandonAfter;
    return plan;
  });
  writes.forEach((w, k) => {
    const stall = { afterBlock: stalls.int(0, w.blocks - 1), ms: Math.round(stalls.pick([0.5, 1.5, 3]) * writeLeaseMs) };
    if (stalls.chance(0.3)) w.stall = stall;
    const sameAs = stalls.int(0, Math.max(0, k - 1));
    if (k > 0 && stalls.chance(0.4)) w.sameAs = sameAs;
  });
  const honest = trackers.map((_, i) => i).filter((i) => !faultyIndexes.includes(i));
  const decommission = { atMs: ops.int(0, 60_000), index: honest.length ? ops.pick(honest) : 0 };
  const decommissionOn = ops.chance(0.25) && n >= 2 * f + 2 && honest.length > 0 && !excluded.has('decommission');
  const balance: { atMs: number; thresholdPercent: number; stopAtMs?: number } = { atMs: balancing.int(0, 60_000), thresholdPercent: balancing.pick([0, 5, 10, 30]) };
  const stopAfter = balancing.int(0, 10_000);
  if (balancing.chance(0.2)) balance.stopAtMs = balance.atMs + stopAfter;
  const balanceOn = balancing.chance(0.3) && dfs.length > 0 && !excluded.has('balance');
  const shared = hosting.chance(0.3);
  const sharedCores = hosting.int(1, 4);
  return {
    seed: opts.seed,
    ...(shared ? { sharedCores } : {}),
    f,
    trackers,
    jobs,
    heartbeatIntervalMs,
    // Long enough that one lost heartbeat (a deadline's wait, then a resend) never expires a tracker.
    trackerExpiryMs,
    blacklistAfterVerdicts,
    lateFactor,
    lateFloorMs,
    // Honest attempts take at most 3 s (plus network delays): every floor is above that.
    deadlineFloorMs: cluster.pick([4_000, 10_000, 30_000]),
    pairWaitMs: cluster.pick([0, 2_000, 5_000]),
    rpcDeadlineMs: heartbeatIntervalMs * 2,
    network: { lossRequest, lossReply, maxDelayMs: net.pick([2, 20, 100]), lateChance },
    faulty: faultyIndexes,
    dfs,
    dfsReadsAtMs: dfs.length ? dfsReadsAtMs : [],
    jtRestartsAtMs,
    writes: writesOn && !excluded.has('dfs-write') ? writes : [],
    writeLeaseMs,
    blockReportMs,
    ...(decommissionOn ? { decommission } : {}),
    ...(balanceOn ? { balance } : {}),
  };
}

/** A non-empty subset of [0, n). */
function someOf(rng: Prng, n: number): number[] {
  const out = Array.from({ length: n }, (_, i) => i).filter(() => rng.chance(0.5));
  return out.length ? out : [rng.int(0, n - 1)];
}

export function describeScenario(s: Scenario): string {
  const faults = s.faulty.map((i) => {
    const t = s.trackers[i]!;
    const extra = t.crashAt !== undefined ? `@${t.crashAt}` : t.slowMs !== undefined ? `+${t.slowMs}ms` : t.lieAtMs !== undefined ? `@${t.lieAtMs}` : '';
    return `t${i}:${t.mode}${extra}`;
  });
  const net = s.network;
  return `f=${s.f} trackers=${s.trackers.length}${s.sharedCores ? ` on one ${s.sharedCores}-core host` : ''} faults=[${faults.join(' ')}] ` +
    `jobs=[${s.jobs.map((j) => `${j.maps}x${j.reduces}${j.killAtMs !== undefined ? `-kill@${j.killAtMs}` : ''}`).join(' ')}] hb=${s.heartbeatIntervalMs}ms ` +
    `expiry=${s.trackerExpiryMs}ms blacklist>${s.blacklistAfterVerdicts} late>${s.lateFactor}x/${s.lateFloorMs}ms deadline>=${s.deadlineFloorMs}ms pair-wait=${s.pairWaitMs}ms ` +
    `loss=${net.lossRequest}/${net.lossReply} late=${net.lateChance} delay<=${net.maxDelayMs}ms` +
    (s.dfs.length ? ` dfs=[${s.dfs.map((x) => `${x.blocks}b/r${x.replication}${x.setrep ? `-r${x.setrep.replication}@${x.setrep.atMs}` : ''}` +
      `${x.rmAtMs !== undefined ? `-rm@${x.rmAtMs}` : ''}`).join(' ')}] ` +
      `reads@[${s.dfsReadsAtMs.join(',')}]` : '') +
    (s.jtRestartsAtMs.length ? ` jt-restart@${s.jtRestartsAtMs.join(',')}` : '') +
    (s.writes.length ? ` writes=[${s.writes.map((w) => `${w.blocks}b/r${w.replication}@${w.atMs}+${w.blockEveryMs}ms` +
      `${w.abandonAfter !== undefined ? `-dies@${w.abandonAfter}` : ''}${w.stall ? `-cut@${w.stall.afterBlock}+${w.stall.ms}ms` : ''}` +
      `${w.sameAs !== undefined ? `-as-w${w.sameAs}` : ''}`).join(' ')}] lease=${s.writeLeaseMs}ms reports=${s.blockReportMs}ms` : '') +
    (s.decommission ? ` decommission=t${s.decommission.index}@${s.decommission.atMs}` : '') +
    (s.balance ? ` balance=${s.balance.thresholdPercent}%@${s.balance.atMs}${s.balance.stopAtMs !== undefined ? `-stop@${s.balance.stopAtMs}` : ''}` : '');
}
