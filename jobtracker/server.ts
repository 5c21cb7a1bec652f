/**
 * The job tracker process: the core (decisions) and the namespace (level) behind the JobTracker
 * gRPC service, plus the clock that ticks the core. All I/O of the job tracker lives here.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { BftmrError, messageOf } from '../lib/errors.ts';
import { requireRole, startServer, unary, type RpcServer } from '../lib/rpc.ts';
import { USERS } from '../lib/identity.ts';
import type * as M from '../lib/messages.ts';
import { JOB_CODE_DIR, MAX_JOB_WAIT_MS, MB, type JobTrackerOptions } from '../lib/options.ts';
import { baseName, normalizePath } from '../dfs/dfs_path.ts';
import { JobTrackerCore } from './core/jobtracker_core.ts';
import type { Effect } from './core/types.ts';
import { blockRef, Namespace, type Entry, type FileEntry } from './namespace.ts';
import { computeSplits } from './splits.ts';
import { Peers } from '../dfs/peers.ts';
import { isDigest } from '../lib/digest.ts';
import { BUILD_ID } from '../lib/build.ts';
import { Kv } from '../lib/kv.ts';
import { BlockAuditor } from './block_audit.ts';

/** What a job's cache files may hold in all: every task that reads one keeps it in memory. */
const MAX_CACHE_BYTES = 256 * MB;

/** Whether a name below `dir` on the way to `path` starts with _ or . (hidden from job inputs). */
function hiddenBelow(dir: string, path: string): boolean {
  return path.slice(dir === '/' ? 1 : dir.length + 1).split('/').some((name) => name.startsWith('_') || name.startsWith('.'));
}

export interface JobTrackerHandle {
  address: string;
  /** Resolves when the job tracker has stopped (after `stop()` or a Shutdown call). */
  stopped: Promise<void>;
  stop(): Promise<void>;
}

function cryptoRandom(): number {
  return randomBytes(4).readUInt32BE(0) / 0x100000000;
}

export async function startJobTracker(opts: JobTrackerOptions, log: (line: string) => void): Promise<JobTrackerHandle> {
  await fs.mkdir(opts.dir, { recursive: true });
  const namespace = await Namespace.open(path.join(opts.dir, 'namespace'));
  const core = new JobTrackerCore(opts, cryptoRandom, Date.now());
  // The namespace is the source of truth: the replication monitor starts from what it lists.
  for (const b of await namespace.blocks()) core.trackBlock(b.digest, b.size, b.wanted, b.replicas, Date.now());
  const jobRecords = await Kv.open<M.JobStatus>(path.join(opts.dir, 'jobs'));
  // The submissions of running jobs: what a restart needs to run them again.
  const submissions = await Kv.open<M.SubmitJobRequest>(path.join(opts.dir, 'submissions'));
  // Verdicts outlive a restart: a tracker proven faulty is not trusted again because the job tracker restarted.
  const verdictRecords = await Kv.open<string[]>(path.join(opts.dir, 'verdicts'));
  const verdicts = new Map<string, string[]>();
  for await (const [id, v] of verdictRecords.scan('')) verdicts.set(id, v);
  core.restoreVerdicts(verdicts);
  // So are the trackers the operator is taking out of service (HDFS keeps them in a file).
  const leaving = await Kv.open<boolean>(path.join(opts.dir, 'decommissioning'));
  const leavingIds: string[] = [];
  for await (const [id] of leaving.scan('')) leavingIds.push(id);
  core.restoreDecommissions(leavingIds, Date.now());
  await restoreJobs();

  let address = '';
  let server: RpcServer | undefined;
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => (resolveStopped = r));

  const locate = (id: string) => core.location(id);
  const liveIds = () => new Set(core.liveTrackers().map((t) => t.id));

  const fileInfo = (f: FileEntry): M.FileInfo => {
    const live = liveIds();
    return {
      path: f.path,
      size: f.size,
      replication: f.replication,
      created_ms: f.createdMs,
      is_dir: false,
      // Live replicas first: a reader tries them in order.
      blocks: f.blocks.map((b) => blockRef(b, [...b.replicas].sort((x, y) => Number(live.has(y)) - Number(live.has(x)))
        .map(locate).filter((l): l is M.Location => l !== undefined))),
    };
  };
  const fsckBlock = (b: FileEntry['blocks'][number], index: number): M.FsckBlock => {
    const h = core.blockHealth(b.digest);
    // Every block a file refers to is tracked; the namespace's list is the fallback all the same.
    if (!h) return { index, digest: b.digest, size: b.size, live: [], dead: b.replicas, bad: [], repairing: 0, state: 'MISSING', wanted: 0 };
    return { index, digest: b.digest, size: b.size, live: h.live, dead: h.dead, bad: h.bad, repairing: h.repairing, state: h.state, wanted: h.wanted };
  };
  const entryInfo = (e: Entry): M.FileInfo =>
    e.kind === 'file' ? fileInfo(e.file) : { path: e.path, size: 0, blocks: [], replication: 0, created_ms: 0, is_dir: true };

  /** A file now refers to these blocks; the files it replaced, if any, no longer do. */
  function created(files: { blocks: { digest: string; size: number; replicas: string[] }[] }[], replaced: FileEntry[], verify = false): void {
    for (const f of files) {
      for (const b of f.blocks) core.trackBlock(b.digest, b.size, namespace.wanted(b.digest), b.replicas, Date.now(), verify);
    }
    deleted(replaced);
  }
  function enoughNodes(replication: number, live: number): void {
    if (live < replication) {
      throw new BftmrError('DFS_TOO_FEW_NODES', `replication ${replication} needs ${replication} live storage nodes, and ${live} are available`);
    }
  }

  /** Blocks of deleted files that no file refers to any more go (garbage collection). */
  function deleted(files: FileEntry[]): void {
    for (const f of files) {
      for (const b of f.blocks) {
        if (namespace.isReferenced(b.digest)) core.trackBlock(b.digest, b.size, namespace.wanted(b.digest), [], Date.now());
        else { core.forgetBlock(b.digest); auditor.forget(b.digest); }
      }
    }
    drainEffects();
  }

  /**
   * Job records of earlier runs (job history). A job that was running when the last run stopped
   * lost its attempts with it. It succeeded if its output was recorded (the commit, not the end,
   * is what counts); else it runs again as a new job once the trackers are back (the core's
   * 'rerun' effect), or, if its submission was not kept, it is marked interrupted, to be submitted
   * again. Either way its data on the trackers goes.
   */
  async function restoreJobs(): Promise<void> {
    const records: M.JobStatus[] = [];
    const reruns: string[] = [];
    for await (const [, r] of jobRecords.scan('')) {
      if (r.state === 'RUNNING') {
        const committed = (await namespace.stat(r.output))?.kind === 'dir';
        const again = !committed && (await submissions.get(r.job_id)) !== undefined;
        if (again) reruns.push(r.job_id);
        Object.assign(r, committed ? { state: 'SUCCEEDED' } : again ? {
          error_code: 'JOB_INTERRUPTED', error: 'the job tracker stopped while the job ran; it runs again once the task trackers are back',
        } : {
          state: 'FAILED', error_code: 'JOB_INTERRUPTED',
          error: 'the job tracker stopped while the job ran, and its attempts with it: submit it again',
        });
        await jobRecords.put(r.job_id, r);
        log(`${r.job_id}: was running when the job tracker stopped: ${committed ? 'its output was committed' : again ? 'it runs again' : 'interrupted'}`);
      }
      records.push(r);
    }
    const running = new Set(reruns);
    for await (const [id] of submissions.scan('')) if (!running.has(id)) await submissions.del(id);
    core.restoreJobs(records, reruns);
  }

  /** Runs again a job the last run of the job tracker left running, as it was submitted. */
  async function rerun(jobId: string): Promise<void> {
    try {
      const req = await submissions.get(jobId);
      if (!req) throw new BftmrError('INTERNAL', 'its submission was not kept');
      const newId = await submitJob(req, jobId);
      core.rerunSubmitted(jobId, newId);
    } catch (err) {
      core.rerunFailed(jobId, messageOf(err));
      log(`${jobId}: could not run again: ${messageOf(err)}`);
    }
    drainEffects();
  }

  async function runEffects(effects: Effect[]): Promise<void> {
    for (const e of effects) {
      if (e.type === 'log') { log(e.message); continue; }
      if (e.type === 'job') {
        await jobRecords.put(e.status.job_id, e.status).catch((err) => log(`could not record ${e.status.job_id}: ${messageOf(err)}`));
        wakeJobWaiters(e.status.job_id);
        if (e.status.state !== 'RUNNING') {
          const req = await submissions.get(e.status.job_id).catch(() => undefined);
          await submissions.del(e.status.job_id).catch(() => undefined);
          if (req) keepCode(req.bundle_path, req.bundle_digest);
        }
        continue;
      }
      if (e.type === 'rerun') { void rerun(e.jobId); continue; }
      if (e.type === 'forget') {
        await jobRecords.del(e.jobId).catch((err) => log(`could not forget ${e.jobId}: ${messageOf(err)}`));
        continue;
      }
      if (e.type === 'audit') { void audit(e); continue; }
      if (e.type === 'decommission') {
        await (e.on ? leaving.put(e.trackerId, true) : leaving.del(e.trackerId))
          .catch((err) => log(`could not record the decommissioning of ${e.trackerId}: ${messageOf(err)}`));
        continue;
      }
      if (e.type === 'verdict') {
        const all = [...(verdicts.get(e.trackerId) ?? []), e.reason];
        verdicts.set(e.trackerId, all);
        await verdictRecords.put(e.trackerId, all).catch((err) => log(`could not record a verdict against ${e.trackerId}: ${messageOf(err)}`));
        continue;
      }
      if (e.type === 'replicas') {
        await namespace.setReplicas(e.changes).catch((err) => log(`could not record replica changes: ${messageOf(err)}`));
        continue;
      }
      try {
        const files = e.files.map((f) => ({
          path: f.path, size: f.size, replication: f.replicas.length, createdMs: Date.now(),
          blocks: [{ digest: f.digest, size: f.size, replicas: f.replicas.map((r) => r.tracker_id) }],
        }));
        // Its record as it stands (votes, counts) first: should the job tracker stop before the
        // job is over, a restart finds the output committed and this record, not the submitted one.
        await jobRecords.put(e.jobId, core.job(e.jobId, Date.now())).catch((err) => log(`could not record ${e.jobId}: ${messageOf(err)}`));
        await namespace.create(files);
        created(files, []);
        core.committed(e.jobId, Date.now());
        log(`${e.jobId}: committed ${e.files.length} files under ${e.output}`);
      } catch (err) {
        core.commitFailed(e.jobId, messageOf(err), Date.now());
        log(`${e.jobId}: commit failed: ${messageOf(err)}`);
      }
    }
  }
  /**
   * Checks the accused (or randomly picked) replica itself: a mismatch is proof; for a dfs block
   * (no job), so is the tracker saying it does not hold a block it claimed. Anything else is not.
   */
  const peers = new Peers();
  const auditor = new BlockAuditor(peers);
  async function audit(e: Extract<Effect, { type: 'audit' }>): Promise<void> {
    // dfs blocks mint challenges for later routine audits; a job's map output is checked once.
    const outcome = await auditor.check(e.address, e.digest, { mint: !e.jobId, challenge: !!e.routine, urgent: !!e.jobId });
    const what = e.jobId ? `${e.task} of ${e.jobId}` : e.task;
    if (outcome.kind === 'no-answer') log(`audit of ${e.trackerId} for ${e.digest.slice(0, 12)}: no answer (${outcome.why})`);
    if (outcome.kind === 'mismatch') log(`audit: ${e.trackerId} served bytes that do not match ${e.digest.slice(0, 12)} (${what})`);
    if (outcome.kind === 'missing' && !e.jobId) log(`audit: ${e.trackerId} does not hold block ${e.digest.slice(0, 12)} it claimed (${what})`);
    core.auditResult(e, outcome.kind !== 'mismatch', Date.now(), outcome.kind !== 'missing', outcome.kind !== 'no-answer');
    drainEffects();
  }

  /**
   * Checks a submission and starts its job; `rerunOf`: the job it runs again after a restart. The
   * request is kept until the job ends, so that a restart can run it again.
   */
  function submitJob(req: M.SubmitJobRequest, rerunOf?: string): Promise<string> {
    return codeExclusive(() => startJob(req, rerunOf));
  }

  async function startJob(req: M.SubmitJobRequest, rerunOf?: string): Promise<string> {
    const bundle = await namespace.getFile(req.bundle_path);
    if (!bundle) throw new BftmrError('JOB_CODE_GONE', `the job code ${req.bundle_path} is not in the dfs (the last job that ran it ended): store it again`);
    if (bundle.blocks.length !== 1 || bundle.blocks[0]!.digest !== req.bundle_digest) {
      throw new BftmrError('JOB_BAD_MODULE', `the job bundle ${req.bundle_path} does not match its digest`);
    }
    if (req.inputs.length === 0) throw new BftmrError('JOB_BAD_ARGUMENT', 'a job needs at least one input path');
    const files: FileEntry[] = [];
    for (const input of req.inputs) {
      const p = normalizePath(input);
      const st = await namespace.stat(p);
      if (!st) throw new BftmrError('DFS_NOT_FOUND', `input ${p} does not exist`);
      // As Hadoop's FileInputFormat: below an input directory, names that start with _ or . are
      // not input (_SUCCESS, _logs, .crc files); a file named as an input is.
      files.push(...(await namespace.filesUnder(p)).filter((f) => st.kind === 'file' || !hiddenBelow(p, f.path)));
    }
    const output = normalizePath(req.output);
    if (await namespace.stat(output)) throw new BftmrError('DFS_EXISTS', `output ${output} already exists`);
    for (let p = output.slice(0, output.lastIndexOf('/')); p; p = p.slice(0, p.lastIndexOf('/'))) {
      if ((await namespace.stat(p))?.kind === 'file') throw new BftmrError('DFS_EXISTS', `output ${output}: ${p} is a file`);
    }
    const cache = await cacheFiles(req.cache_files ?? []);
    if (req.split_bytes < 1) throw new BftmrError('JOB_BAD_ARGUMENT', 'the split size must be positive');
    const [b] = bundle.blocks;
    const spec = {
      name: req.name || 'job',
      bundle: { digest: b!.digest, size: b!.size, replicas: (await believedCopies(b!.digest, b!.replicas)).map(locate).filter((l): l is M.Location => !!l) },
      conf: req.conf,
      f: req.f,
      numReduces: req.num_reduces,
      output,
      splits: computeSplits(files, req.split_bytes, locate),
      ...(rerunOf ? { rerunOf } : {}),
      ...(cache.length ? { cache } : {}),
    };
    const jobId = core.submit(spec, Date.now());
    // The job's submission, then its record, are on disk before the client has its id: a restart
    // from then on runs it again (a running job's record always has its submission).
    await submissions.put(jobId, req).catch((err) => log(`could not keep the submission of ${jobId}: ${messageOf(err)}`));
    drainEffects();
    await effectsChain;
    log(`${jobId}: submitted (${spec.splits.length} maps, ${spec.numReduces} reduces, f=${spec.f}) -> ${output}${rerunOf ? `, running ${rerunOf} again` : ''}`);
    return jobId;
  }

  /**
   * The trackers to fetch a block from: the copies the replication monitor believes. A block
   * stored again just after its last copies were deleted (job code, stored again by the submit
   * that found it gone) has none for a moment, until its holders show they have it
   * (replication.ts, track): that is waited for, a few seconds at most.
   */
  async function believedCopies(digest: string, listed: string[]): Promise<string[]> {
    for (let waited = 0; ; waited += 50) {
      const live = core.blockHealth(digest)?.live ?? [];
      if (live.length > 0) return live;
      if (waited >= 5_000) return listed;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** A job's cache files, each a dfs file a task reads whole: by path or by its base name, which must tell them apart. */
  async function cacheFiles(paths: string[]): Promise<M.CacheFile[]> {
    const out: M.CacheFile[] = [];
    let bytes = 0;
    for (const p of paths) {
      const at = normalizePath(p);
      const st = await namespace.stat(at);
      if (!st) throw new BftmrError('DFS_NOT_FOUND', `cache file ${at} does not exist`);
      if (st.kind !== 'file') throw new BftmrError('JOB_BAD_ARGUMENT', `cache file ${at} is a directory, not a file`);
      const twin = out.find((c) => baseName(c.path) === baseName(at));
      if (twin) throw new BftmrError('JOB_BAD_ARGUMENT', `cache files ${twin.path} and ${at} have one name: ctx.cacheFile could not tell them apart`);
      bytes += st.file.size;
      if (bytes > MAX_CACHE_BYTES) throw new BftmrError('JOB_BAD_ARGUMENT', `a job's cache files hold ${MAX_CACHE_BYTES / MB} MB at most (every task keeps what it reads in memory)`);
      out.push({
        path: at, size: st.file.size,
        blocks: st.file.blocks.map((b) => blockRef(b, b.replicas.map(locate).filter((l): l is M.Location => !!l))),
      });
    }
    return out;
  }

  /**
   * A job's code stays in the dfs while a job may run it, and for jobCodeKeepMs after the last
   * such job ended (the same code is often submitted again), and no longer (as Hadoop deletes a
   * job's staging directory): then it goes, unless a running job, or one kept to run again after
   * a restart, has the same code. Submits and these deletions take turns, so a submit either
   * starts its job before the check or finds the code gone (JOB_CODE_GONE: the client stores it
   * again).
   */
  const codeLastUsed = new Map<string, number>();
  function keepCode(bundlePath: string, digest: string): void {
    codeLastUsed.set(digest, Date.now());
    setTimeout(() => void dropCode(bundlePath, digest), opts.jobCodeKeepMs).unref();
  }
  let codeTurn: Promise<unknown> = Promise.resolve();
  function codeExclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = codeTurn.then(fn);
    codeTurn = run.catch(() => undefined);
    return run;
  }
  function dropCode(bundlePath: string, digest: string): Promise<void> {
    return codeExclusive(async () => {
      // Used since (another job ended later): that job's timer decides. (A second's slack: a
      // timer's clock is not Date's.)
      if (stopping || Date.now() - (codeLastUsed.get(digest) ?? 0) < opts.jobCodeKeepMs - 1_000 || core.usesBundle(digest)) return;
      codeLastUsed.delete(digest);
      for await (const [, kept] of submissions.scan('')) if (kept.bundle_digest === digest) return;
      const file = await namespace.getFile(bundlePath);
      if (!file || file.blocks.length !== 1 || file.blocks[0]!.digest !== digest) return;
      deleted(await namespace.delete(bundlePath, false));
    }).catch((err) => log(`could not delete the job code ${bundlePath}: ${messageOf(err)}`));
  }

  // GetJob calls waiting for a job to end (wait_ms), woken whenever its record changes (and at stop).
  const jobWaiters = new Map<string, Set<() => void>>();
  function wakeJobWaiters(jobId?: string): void {
    for (const [id, waiters] of jobWaiters) {
      if (jobId !== undefined && id !== jobId) continue;
      jobWaiters.delete(id);
      for (const wake of waiters) wake();
    }
  }
  async function jobStatus(jobId: string, waitMs: number): Promise<M.JobStatus> {
    const until = Date.now() + Math.min(waitMs, MAX_JOB_WAIT_MS);
    for (;;) {
      const s = core.job(jobId, Date.now());
      const left = until - Date.now();
      if (s.state !== 'RUNNING' || left <= 0 || stopping) return s;
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          jobWaiters.get(jobId)?.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        let waiters = jobWaiters.get(jobId);
        if (!waiters) jobWaiters.set(jobId, (waiters = new Set()));
        waiters.add(wake);
      });
    }
  }

  let effectsChain = Promise.resolve();
  const drainEffects = () => {
    const effects = core.takeEffects();
    if (effects.length) effectsChain = effectsChain.then(() => runEffects(effects));
  };

  const refusedBuilds = new Set<string>();
  const handlers = {
    // A tracker's id is the name in its certificate: it can register and report only as itself.
    Register: unary<M.RegisterRequest, M.RegisterReply>(async (req, peer) => {
      if (req.tracker_id && req.tracker_id !== peer.name) {
        throw new BftmrError('AUTH_DENIED', `tasktracker ${peer.name} cannot register as ${req.tracker_id}`);
      }
      if (req.build !== BUILD_ID) {
        // Logged once per tracker and build: a running tracker of an old build retries at every heartbeat.
        const seen = `${peer.name} ${req.build}`;
        if (!refusedBuilds.has(seen)) log(`refused tracker ${peer.name}: build ${req.build || 'unknown'}, not ${BUILD_ID}`);
        refusedBuilds.add(seen);
        throw new BftmrError('CLUSTER_BUILD_MISMATCH', `tasktracker ${peer.name} runs build ${req.build || 'unknown'} and this job tracker runs ${BUILD_ID}: `
          + 'a cluster runs one build (honest trackers must write identical outputs); install the same bftmr on every node');
      }
      const id = core.register({ ...req, tracker_id: peer.name }, Date.now());
      log(`tracker ${id} registered from ${req.address} (pid ${req.pid}, ${req.slots} slots${req.fault ? `, fault ${req.fault}` : ''})`);
      drainEffects();
      return { tracker_id: id, heartbeat_interval_ms: core.heartbeatIntervalMs() };
    }),
    Heartbeat: unary<M.HeartbeatRequest, M.HeartbeatReply>(async (req, peer) => {
      if (req.tracker_id !== peer.name) {
        throw new BftmrError('AUTH_DENIED', `tasktracker ${peer.name} cannot report as ${req.tracker_id || 'nobody'}`);
      }
      const reply = core.heartbeat(req, Date.now());
      drainEffects();
      return reply as M.HeartbeatReply;
    }),
    ClusterStatus: unary<M.Empty, M.ClusterStatusReply>(async () => core.status(Date.now(), address, process.pid)),
    Decommission: unary<M.DecommissionRequest, M.Empty>(async (req, peer) => {
      core.decommission(req.tracker_id, req.on, Date.now());
      drainEffects();
      await effectsChain;
      log(`${req.on ? 'decommissioning' : 'recommissioning'} ${req.tracker_id}, asked by ${peer.role} ${peer.name}`);
      return {};
    }),
    Balance: unary<M.BalanceRequest, M.BalanceReply>(async (req, peer) => {
      // Anyone may ask how balanced the dfs is; starting or stopping a run is for admins.
      if (req.action !== 'STATUS') requireRole(peer, `Balance ${req.action}`, ['admin']);
      const st = req.action === 'STATUS' ? core.balanceStatus() : core.balance(req.action === 'START', req.threshold_percent, Date.now());
      if (req.action !== 'STATUS') {
        drainEffects();
        log(`balancing ${req.action === 'START' ? `to within ${req.threshold_percent}%` : 'stopped'}, asked by ${peer.role} ${peer.name}`);
      }
      return {
        active: st.active, threshold_percent: st.thresholdPercent, moved_blocks: st.movedBlocks, moved_bytes: st.movedBytes,
        failed_moves: st.failedMoves, moving: st.moving, outcome: st.outcome, spread_bytes: st.spreadBytes,
        allowed_bytes: st.allowedBytes, trackers: st.trackers,
      };
    }),
    Shutdown: unary<M.Empty, M.Empty>(async () => {
      setImmediate(() => void stop());
      return {};
    }),
    SubmitJob: unary<M.SubmitJobRequest, M.SubmitJobReply>(async (req) => ({ job_id: await submitJob(req) })),
    GetJob: unary<M.GetJobRequest, M.JobStatus>((req) => jobStatus(req.job_id, req.wait_ms ?? 0)),
    KillJob: unary<M.JobId, M.JobStatus>(async (req, peer) => {
      const s = core.kill(req.job_id, `client ${peer.name}`, Date.now());
      drainEffects();
      log(`${req.job_id}: killed by client ${peer.name}`);
      return s;
    }),
    ListJobs: unary<M.Empty, M.ListJobsReply>(async () => ({ jobs: core.jobs(Date.now()) })),
    ListAttempts: unary<M.JobId, M.ListAttemptsReply>(async (req) => ({ attempts: core.attempts(req.job_id) })),
    // A put's lease, named per client: its blocks are not collected while it runs.
    RenewWriteLease: unary<M.WriteLease, M.WriteLeaseReply>(async (req, peer) => {
      if (!req.id) throw new BftmrError('JOB_BAD_ARGUMENT', 'a write lease needs an id');
      core.renewWriteLease(`${peer.name}/${req.id}`, req.started_ms_ago, Date.now());
      return { lease_ms: opts.writeLeaseMs };
    }),
    ReleaseWriteLease: unary<M.WriteLease, M.Empty>(async (req, peer) => {
      core.releaseWriteLease(`${peer.name}/${req.id}`, Date.now());
      return {};
    }),
    AllocateBlock: unary<M.AllocateBlockRequest, M.AllocateBlockReply>(async (req) => {
      const candidates = core.liveTrackers().filter((t) => !req.exclude.includes(t.id));
      enoughNodes(req.replication, candidates.length);
      // Random placement spreads load; a simulator would inject this randomness too.
      const shuffled = candidates.map((t) => ({ t, r: cryptoRandom() })).sort((a, b) => a.r - b.r).map((x) => x.t);
      return { targets: shuffled.slice(0, req.replication).map((t) => ({ tracker_id: t.id, address: t.address })) };
    }),
    CreateFile: unary<M.CreateFileRequest, M.Empty>(async (req, peer) => {
      // A put whose lease lapsed may have had blocks collected: it is refused, not created short.
      const lease = req.lease_id ? `${peer.name}/${req.lease_id}` : undefined;
      if (lease) core.checkWriteLease(lease, Date.now());
      // Nor is one whose block has no copy left to believe (a file of the same bytes removed meanwhile).
      core.checkNewFile(req.path, req.blocks.map((b) => ({ digest: b.digest, replicas: b.replicas.map((r) => r.tracker_id) })), lease, Date.now());
      const size = req.blocks.reduce((n, b) => n + b.size, 0);
      const file: FileEntry = {
        path: req.path, size, replication: req.replication, createdMs: Date.now(),
        blocks: req.blocks.map((b) => ({
          digest: b.digest, size: b.size, replicas: b.replicas.map((r) => r.tracker_id),
          // A head the writer got wrong costs a reader only a whole-block read (never a verdict);
          // a head that is the whole block must be the block's own digest.
          ...(b.head_digest && isDigest(b.head_digest) && b.head_size && b.head_size <= b.size
            && (b.head_size < b.size || b.head_digest === b.digest) ? { head: { digest: b.head_digest, size: b.head_size } } : {}),
          // Wrong, it costs a map a block read too many, or fails it as if the line ran past the file.
          ...(b.no_newline ? { noNewline: true as const } : {}),
        })),
      };
      const verify = !!lease && core.writeBegunBeforeStart(lease);
      created([file], await namespace.create([file], req.overwrite), verify);
      return {};
    }),
    GetFile: unary<M.PathRequest, M.FileInfo>(async (req) => {
      const st = await namespace.stat(req.path);
      if (!st) throw new BftmrError('DFS_NOT_FOUND', `${normalizePath(req.path)}: no such file or directory`);
      return entryInfo(st);
    }),
    List: unary<M.PathRequest, M.ListReply>(async (req) => ({
      entries: (await namespace.list(req.path, req.recursive)).map(entryInfo),
    })),
    Delete: unary<M.DeleteRequest, M.DeleteReply>(async (req) => {
      // As HDFS: the root is not deleted (rm -r of every entry below it is still possible).
      if (normalizePath(req.path) === '/') throw new BftmrError('DFS_BAD_PATH', 'cannot delete the root directory /');
      const files = await namespace.delete(req.path, req.recursive);
      deleted(files);
      return { files_deleted: files.length };
    }),
    SetReplication: unary<M.SetReplicationRequest, M.SetReplicationReply>(async (req) => {
      if (!Number.isInteger(req.replication) || req.replication < 1) {
        throw new BftmrError('JOB_BAD_ARGUMENT', `replication must be a whole number >= 1, not ${req.replication}`);
      }
      enoughNodes(req.replication, core.liveTrackers().length);
      const files = await namespace.setReplication(req.path, req.replication); // DFS_NOT_FOUND for a path that does not exist
      // The monitor makes or deletes copies until each block has what its files want now.
      for (const f of files) for (const b of f.blocks) core.trackBlock(b.digest, b.size, namespace.wanted(b.digest), [], Date.now());
      drainEffects();
      log(`replication of ${normalizePath(req.path)} set to ${req.replication} (${files.length} files changed)`);
      return { files_changed: files.length };
    }),
    Rename: unary<M.RenameRequest, M.RenameReply>(async (req) => {
      const { path, files } = await namespace.rename(req.src, req.dst);
      log(`moved ${normalizePath(req.src)} to ${path} (${files} files)`);
      return { path, files_moved: files };
    }),
    ReportBadReplica: unary<M.BadReplicaReport, M.Empty>(async (req) => {
      if (!isDigest(req.digest)) throw new BftmrError('JOB_BAD_ARGUMENT', `not a block digest: ${req.digest}`);
      if (req.puller && !/^[\w.:-]{1,100}$/.test(req.puller)) throw new BftmrError('JOB_BAD_ARGUMENT', 'not a tracker id: the puller of a bad replica report');
      // A writer whose node, pulling a copy, met the accused as a source names that node.
      const who = `a ${req.writer || req.puller ? 'writer' : 'reader'} of ${req.path}${req.puller ? `, for ${req.puller} pulling a copy` : ''}`;
      log(`${who} reports ${req.tracker_id} for block ${req.digest.slice(0, 12)}: ${req.error}`);
      core.reportBadReplica(req.tracker_id, req.digest, who, Date.now(), req.writer);
      drainEffects();
      return {};
    }),
    Fsck: unary<M.PathRequest, M.FsckReply>(async (req) => {
      const files = await namespace.filesUnder(req.path);
      return { files: files.map((f) => ({ path: f.path, replication: f.replication, blocks: f.blocks.map((b, index) => fsckBlock(b, index)) })) };
    }),
  };

  const [host] = opts.listen.split(/:(?=\d+$)/);
  // Trackers may only register and heartbeat; everything else is for users (the CLI), and what
  // runs the cluster (taking trackers out, balancing (see Balance), stopping it) for its admins only.
  server = await startServer(opts.listen, 'JobTracker', handlers, (method) => (method === 'Register' || method === 'Heartbeat' ? ['tasktracker']
    : method === 'Decommission' || method === 'Shutdown' ? ['admin'] : USERS));
  address = `${host}:${server.port}`;
  const ticker = setInterval(() => { core.tick(Date.now()); drainEffects(); }, opts.heartbeatIntervalMs);
  // Job code of jobs that ended as the job tracker stopped: what no kept submission runs again goes in time.
  void namespace.filesUnder(JOB_CODE_DIR).then((files) => {
    for (const f of files) if (f.blocks.length === 1) keepCode(f.path, f.blocks[0]!.digest);
  }, () => undefined);

  let stopping: Promise<void> | undefined;
  function stop(): Promise<void> {
    stopping ??= (async () => {
      clearInterval(ticker);
      wakeJobWaiters();
      await server!.close();
      await effectsChain;
      await namespace.close();
      await jobRecords.close();
      await submissions.close();
      await verdictRecords.close();
      await leaving.close();
      peers.close();
      resolveStopped();
    })();
    return stopping;
  }

  log(`job tracker listening on ${address} (build ${BUILD_ID})`);
  return { address, stopped, stop };
}
