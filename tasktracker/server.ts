/**
 * The task tracker process: a storage node (block service) and a task runner. It pulls work:
 * one heartbeat carries its reports and free slots, and the reply carries typed actions
 * (launch, kill, drop, replicate a block, delete blocks), as in Hadoop. A heartbeat also goes out
 * at once when an attempt or a repair ends.
 */
import os from 'node:os';
import fs from 'node:fs/promises';
import path from 'node:path';
import { BftmrError, messageOf } from '../lib/errors.ts';
import { ownIdentity, RpcClient, startServer, unary } from '../lib/rpc.ts';
import type * as M from '../lib/messages.ts';
import { kClusterDefaults, MB, type TaskTrackerOptions } from '../lib/options.ts';
import { DFS_OWNER } from '../dfs/block_store.ts';
import { FileBlockStore } from '../dfs/file_block_store.ts';
import { Peers } from '../dfs/peers.ts';
import { AttemptRunner } from './attempts.ts';
import { badSources, blockHandlers, trackerAccess, tryPull } from './block_service.ts';
import { parseFault, StorageLies } from './faults.ts';
import { TaskPool } from './pool.ts';
import { Scrubber } from './scrubber.ts';
import { attemptLogPath, expireTaskLogs } from './task_log.ts';
import { BUILD_ID } from '../lib/build.ts';

/** A scrub pass over every held block starts this long after the last one ended. */
const SCRUB_PASS_INTERVAL_MS = 30_000;
/** Repair ids remembered, so a replayed replicate_block is not run twice. */
const MAX_REMEMBERED_REPAIRS = 10_000;
/** Dropped jobs remembered (see droppedJobs). */
const MAX_REMEMBERED_DROPS = 10_000;

export interface TaskTrackerHandle {
  address: string;
  trackerId: string;
  stopped: Promise<void>;
  stop(): Promise<void>;
}

export async function startTaskTracker(opts: TaskTrackerOptions, log: (line: string) => void): Promise<TaskTrackerHandle> {
  const fault = parseFault(opts.fault);
  await fs.mkdir(opts.dir, { recursive: true });
  const store = await FileBlockStore.open(path.join(opts.dir, 'store'));
  const peers = new Peers();
  const pool = new TaskPool(opts.slots, opts.taskMemoryMb, opts.dir);
  const jt = new RpcClient('JobTracker', opts.jobTracker);
  // Its id is the name its certificate carries: the job tracker accepts no other.
  const trackerId = ownIdentity().name;
  const runner = new AttemptRunner(opts.dir, store, peers, pool, fault, () => trackerId,
    (digest, source) => { badReads.push({ digest, tracker_id: source }); });
  const lies = new StorageLies(fault, store);
  await runner.clearCode();

  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => (resolveStopped = r));
  let stop: () => Promise<void> = async () => {};

  const server = await startServer(opts.listen, 'TaskTracker', {
    ...blockHandlers(store, peers, fault, lies),
    Shutdown: unary<M.Empty, M.Empty>(async () => { setImmediate(() => void stop()); return {}; }),
    AttemptLog: unary<M.AttemptLogRequest, M.AttemptLogReply>(async (req) => {
      const file = attemptLogPath(opts.dir, req.job_id, req.attempt_id);
      if (!file) throw new BftmrError('JOB_BAD_ARGUMENT', `not a job and attempt id: ${req.job_id} ${req.attempt_id}`);
      const text = await fs.readFile(file, 'utf8').catch(() => undefined);
      return { found: text !== undefined, text: text ?? '' };
    }),
  }, trackerAccess);
  const address = `${opts.advertiseHost}:${server.port}`;

  let heartbeatIntervalMs = 250;
  let timer: NodeJS.Timeout | undefined;
  /** Heartbeats at the pace the job tracker asks (it slows them down as the cluster grows). */
  function pace(ms: number | undefined): void {
    if (!ms || ms === heartbeatIntervalMs) return;
    heartbeatIntervalMs = ms;
    if (timer) {
      clearInterval(timer);
      timer = setInterval(() => void beat(), heartbeatIntervalMs);
    }
    log(`heartbeats every ${heartbeatIntervalMs} ms, as the job tracker asks`);
  }
  // A heartbeat that takes this long is given up (its reports go with the next one), well before
  // the job tracker would declare this tracker dead.
  const heartbeatDeadlineMs = () => Math.max(1_000, 4 * heartbeatIntervalMs);
  async function register(): Promise<void> {
    // The block report: every block held, whoever owns it here (a committed output may not have
    // become a dfs block yet). The job tracker drops replicas not in it and deletes what it does not need.
    // With the jobs whose data it holds or whose attempts it runs: it drops those no longer running
    // (after a restart of the job tracker, the drops it had queued are gone).
    const blocks: M.BlockRef[] = [];
    const ages: number[] = [];
    const jobs = new Set<string>(jobOfAttempt.values());
    const now = Date.now();
    for await (const b of store.list()) {
      blocks.push({ digest: b.digest, size: b.size, replicas: [] });
      ages.push(Math.max(0, now - b.storedMs));
      for (const o of b.owners) if (o !== DFS_OWNER) jobs.add(o);
    }
    const reply = await jt.call<M.RegisterRequest, M.RegisterReply>('Register', {
      tracker_id: trackerId, address, slots: opts.slots, cores: os.availableParallelism(), pid: process.pid, fault: opts.fault, blocks, build: BUILD_ID, jobs: [...jobs],
      block_ages_ms: ages, clock_ms: now,
    }, kClusterDefaults.rpcDeadlineMs);
    nextBlockReportMs = Date.now() + opts.blockReportMs;
    pace(reply.heartbeat_interval_ms);
    log(`registered as ${trackerId} at ${address}`);
  }

  const running = new Map<string, AbortController>();
  /** Attempts done but for a slow tracker's delay (a fault mode): they hold no slot. */
  const waiting = new Set<string>();
  /** The job of each running attempt. */
  const jobOfAttempt = new Map<string, string>();
  /** Attempts this tracker has started, so a replayed launch (after a lost reply) is not run twice. */
  const started = new Set<string>();
  let lastResponseId = 0;
  let reports: M.AttemptReport[] = [];
  let replications: M.ReplicationResult[] = [];
  let deletedBlocks: string[] = [];
  let badBlocks: string[] = [];
  let badReads: M.BadRead[] = [];
  /** When the next periodic block report goes (with a heartbeat): every dfs block held, with its age. */
  let nextBlockReportMs = Infinity;
  async function blockReport(): Promise<M.HeldBlock[] | undefined> {
    const now = Date.now();
    if (now < nextBlockReportMs) return undefined;
    nextBlockReportMs = now + opts.blockReportMs;
    const held: M.HeldBlock[] = [];
    for await (const b of store.list()) if (b.owners.includes(DFS_OWNER)) held.push({ digest: b.digest, age_ms: Math.max(0, now - b.storedMs) });
    return held;
  }
  /** Repairs this tracker has started (a replayed action is not run twice). */
  const repairs = new Set<number>();
  let beating = false;
  let again = false;
  let jtDown = false;

  /**
   * Jobs dropped here (drop_job: they are over): an attempt of one still running is stopped, and
   * what it stored by the time it ends (job code, fetched blocks, outputs) is dropped then.
   */
  const droppedJobs = new Set<string>();

  function launch(id: string, jobId: string, run: (signal: AbortSignal) => Promise<M.AttemptReport>): void {
    if (started.has(id) || droppedJobs.has(jobId)) return; // replayed, or of a job that is over
    started.add(id);
    if (fault.kind === 'crash') {
      log(`fault crash: exiting on attempt ${id}`);
      process.exit(3);
    }
    const ac = new AbortController();
    running.set(id, ac);
    jobOfAttempt.set(id, jobId);
    if (fault.kind === 'hang') return; // holds the slot, never reports
    run(ac.signal)
      .then(async (rep) => {
        // A slow tracker (a fault mode) stands for a slower machine, not a busier one: while it
        // waits out its delay the attempt holds no slot (on a shared host, no share of its cores).
        waiting.add(id);
        await runner.delay(ac.signal);
        return rep;
      })
      .catch((e) => runner.failure(id, e))
      .then(async (rep) => {
        running.delete(id);
        waiting.delete(id);
        jobOfAttempt.delete(id);
        log(`${id} ${ac.signal.aborted ? 'killed' : rep.ok ? 'done' : `failed: ${rep.error}`} in ${rep.duration_ms} ms`);
        if (!ac.signal.aborted) reports.push(rep);
        if (droppedJobs.has(jobId)) await store.release(jobId).catch((e) => log(`dropping what ${id} left: ${messageOf(e)}`));
        void beat();
      });
  }

  async function act(a: M.TaskAction & { action?: string }): Promise<void> {
    if ('launch_map' in a && a.launch_map) { const m = a.launch_map; launch(m.attempt_id, m.job_id, (s) => runner.runMap(m, s)); }
    else if ('launch_reduce' in a && a.launch_reduce) { const r = a.launch_reduce; launch(r.attempt_id, r.job_id, (s) => runner.runReduce(r, s)); }
    else if ('kill_attempt' in a && a.kill_attempt) running.get(a.kill_attempt)?.abort();
    else if ('drop_job' in a && a.drop_job) {
      const { job_id, keep } = a.drop_job;
      droppedJobs.add(job_id);
      if (droppedJobs.size > MAX_REMEMBERED_DROPS) droppedJobs.delete(droppedJobs.values().next().value!);
      for (const [id, ac] of running) if (jobOfAttempt.get(id) === job_id) ac.abort();
      await pool.endJob(job_id).catch((e) => log(`ending the threads of ${job_id}: ${messageOf(e)}`));
      await runner.dropCode(job_id).catch((e) => log(`dropping the code of ${job_id}: ${messageOf(e)}`));
      for (const d of keep) await store.addOwner(d, DFS_OWNER).catch((e) => log(`keeping ${d}: ${messageOf(e)}`));
      for (const id of started) if (id.startsWith(`attempt_${job_id}_`)) started.delete(id);
      const n = await store.release(job_id);
      log(`${job_id}: dropped intermediate data (${n} blocks), kept ${keep.length} committed`);
    }
    else if ('replicate_block' in a && a.replicate_block) repair(a.replicate_block);
    else if ('delete_blocks' in a && a.delete_blocks) {
      // A copy stored after the request the job tracker decided on may be a write's it has not heard of: kept.
      const { digests, unless_stored_after_ms: storedBy } = a.delete_blocks;
      const n = await store.release(DFS_OWNER, digests, storedBy || undefined);
      log(`deleted ${n} of ${digests.length} unreferenced dfs blocks`);
      deletedBlocks.push(...digests);
    }
  }

  /** Pulls a block the job tracker wants here (verified against its digest) and reports how it went. */
  function repair(r: M.ReplicateBlock): void {
    if (repairs.has(r.repair_id)) return;
    repairs.add(r.repair_id);
    if (repairs.size > MAX_REMEMBERED_REPAIRS) repairs.delete(repairs.values().next().value!);
    void tryPull(store, peers, lies, { digest: r.digest, size: r.size, sources: r.sources })
      .then(({ reply, error, failures, local }) => {
        const ok = !!reply;
        const bad = badSources(failures).map((s) => s.tracker_id);
        log(`repair ${r.repair_id}: block ${r.digest.slice(0, 12)} ${ok ? `copied${local ? ' from its file on this host' : ''}` : `not copied: ${error}`}`);
        replications.push({ repair_id: r.repair_id, digest: r.digest, ok, error, bad_sources: bad });
        void beat();
      });
  }

  async function beat(): Promise<void> {
    if (beating) { again = true; return; }
    beating = true;
    try {
      do {
        again = false;
        const sent = reports;
        const sentBlocks = { replications, deleted_blocks: deletedBlocks, bad_blocks: badBlocks, bad_reads: badReads };
        reports = [];
        replications = [];
        deletedBlocks = [];
        badBlocks = [];
        badReads = [];
        let held: M.HeldBlock[] | undefined;
        try {
          const clock = Date.now(); // before the block report is listed: what is stored after is not in it
          held = await blockReport();
          const reply = await jt.call<M.HeartbeatRequest, M.HeartbeatReply>('Heartbeat', {
            tracker_id: trackerId, free_slots: Math.max(0, opts.slots - running.size + waiting.size), reports: sent, running: [...running.keys()],
            last_response_id: lastResponseId, ...sentBlocks, ...(held ? { block_report: held } : {}), clock_ms: clock,
          }, heartbeatDeadlineMs());
          if (jtDown) { log('job tracker is back'); jtDown = false; }
          if (reply.reregister) {
            // A new session: a restarted job tracker numbers its repairs from 1 again.
            lastResponseId = 0;
            repairs.clear();
            await register();
            again = true;
            continue;
          }
          lastResponseId = reply.response_id ?? 0;
          pace(reply.heartbeat_interval_ms);
          for (const a of reply.actions) await act(a);
        } catch (e) {
          reports = [...sent, ...reports]; // nothing lost: they go with the next heartbeat
          if (held) nextBlockReportMs = 0;
          replications = [...sentBlocks.replications, ...replications];
          deletedBlocks = [...sentBlocks.deleted_blocks, ...deletedBlocks];
          badBlocks = [...sentBlocks.bad_blocks, ...badBlocks];
          badReads = [...sentBlocks.bad_reads, ...badReads];
          if (!jtDown) log(`heartbeat failed: ${messageOf(e)}`);
          jtDown = true;
        }
      } while (again && !stopping);
    } finally {
      beating = false;
    }
  }

  await register();
  timer = setInterval(() => void beat(), heartbeatIntervalMs);
  void beat();
  // A drop-blocks tracker keeps claiming what it lost: it does not scrub.
  const scrubber = new Scrubber(store, {
    bytesPerSec: fault.kind === 'drop-blocks' ? 0 : opts.scrubMbPerSec * MB, passIntervalMs: SCRUB_PASS_INTERVAL_MS,
  }, (d) => { badBlocks.push(d); void beat(); }, log);
  scrubber.start();
  // Task logs are kept a day (Hadoop's userlog retention), whatever became of their jobs.
  const expireLogs = () => void expireTaskLogs(opts.dir, Date.now()).then(({ gone, failed }) => {
    if (gone) log(`deleted the task logs of ${gone} jobs older than a day`);
    if (failed) log(`could not delete some task logs older than a day (tried again in an hour): ${messageOf(failed)}`);
  });
  expireLogs();
  const logTimer = setInterval(expireLogs, 60 * 60_000);
  logTimer.unref();

  let stopping: Promise<void> | undefined;
  stop = () => {
    stopping ??= (async () => {
      clearInterval(timer);
      clearInterval(logTimer);
      await scrubber.stop();
      for (const ac of running.values()) ac.abort();
      await server.close();
      await pool.close().catch(() => {});
      jt.close();
      peers.close();
      await store.close();
      resolveStopped();
    })();
    return stopping;
  };
  return { address, trackerId, stopped, stop };
}
