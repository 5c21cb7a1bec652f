/**
 * Submitting a job and following it: checks everything that can be checked before anything is
 * stored, stores the bundle under its SHA-256, submits, shows progress, and returns the final
 * status. Shared by `bftmr job submit` and `bftmr run`.
 */
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { BftmrError, isBftmrError, messageOf } from '../lib/errors.ts';
import type * as M from '../lib/messages.ts';
import { JOB_CODE_DIR, kClusterDefaults } from '../lib/options.ts';
import { DfsClient } from '../dfs/client.ts';
import { normalizePath } from '../dfs/dfs_path.ts';
import type { Bundle } from './bundle.ts';
import { countOf, escapeControls, formatBytes, ProgressLine } from './progress.ts';

export interface SubmitParams {
  inputs: string[];
  output: string;
  f: number;
  reduces: number;
  splitBytes: number;
  conf: Record<string, string>;
  name: string;
  /** dfs files every task may read (ctx.cacheFile). */
  cacheFiles: string[];
}

/** Refuses a job the cluster cannot run, before anything is stored. */
export async function precheck(dfs: DfsClient, p: SubmitParams): Promise<void> {
  const live = await dfs.liveNodes();
  if (live < 2 * p.f + 1) {
    throw new BftmrError('BFT_TOO_FEW_TRACKERS',
      `f=${p.f} needs at least 2f+1=${2 * p.f + 1} live task trackers, and the cluster has ${live}`);
  }
  for (const input of p.inputs) {
    if (!(await dfs.exists(input))) throw new BftmrError('DFS_NOT_FOUND', `input ${normalizePath(input)} does not exist`);
  }
  const output = normalizePath(p.output);
  if (await dfs.exists(output)) throw new BftmrError('DFS_EXISTS', `output ${output} already exists`);
  for (let at = output.slice(0, output.lastIndexOf('/')); at; at = at.slice(0, at.lastIndexOf('/'))) {
    if ((await dfs.find(at))?.is_dir === false) throw new BftmrError('DFS_EXISTS', `output ${output}: ${at} is a file`);
  }
  // (The job tracker checks these too; here they are refused before the job's code is stored.)
  for (const c of p.cacheFiles) {
    const at = normalizePath(c);
    const st = await dfs.find(at);
    if (!st) {
      throw new BftmrError('DFS_NOT_FOUND', `cache file ${at} does not exist${fs.existsSync(at) ? ' in the dfs (it is a local file: dfs put it first, or use bftmr run)' : ''}`);
    }
    if (st.is_dir) throw new BftmrError('JOB_BAD_ARGUMENT', `cache file ${at} is a directory, not a file`);
  }
}

export async function storeBundle(dfs: DfsClient, bundle: Bundle): Promise<string> {
  const bundlePath = `${JOB_CODE_DIR}/${bundle.digest}.mjs`;
  if (!(await dfs.exists(bundlePath))) {
    try {
      // Up to three copies, but one proven copy is enough to go on: trackers check the code against
      // its digest, and a liar that fails the writer's check (a storage fault) must not stop a job.
      await dfs.putStream([bundle.code], bundlePath, { replication: Math.min(3, await dfs.liveNodes()), minReplication: 1 }, 'the bundled job');
    } catch (e) {
      if (!(e instanceof BftmrError && e.code === 'DFS_EXISTS')) throw e; // a concurrent submit stored it
    }
  }
  return bundlePath;
}

/**
 * Starts the job on the cluster. Its code, stored by storeBundle, may have been deleted since,
 * with the end of the last job that ran it (jobtracker/server.ts): then it is stored again, once.
 */
export async function submit(dfs: DfsClient, bundle: Bundle, bundlePath: string, p: SubmitParams): Promise<string> {
  try {
    return await submitOnce(dfs, bundle, bundlePath, p);
  } catch (e) {
    if (!isBftmrError(e, 'JOB_CODE_GONE')) throw e;
    return await submitOnce(dfs, bundle, await storeBundle(dfs, bundle), p);
  }
}

async function submitOnce(dfs: DfsClient, bundle: Bundle, bundlePath: string, p: SubmitParams): Promise<string> {
  const reply = await dfs.jobTracker.call<M.SubmitJobRequest, M.SubmitJobReply>('SubmitJob', {
    bundle_path: bundlePath,
    bundle_digest: bundle.digest,
    inputs: p.inputs.map(normalizePath),
    output: normalizePath(p.output),
    f: p.f,
    num_reduces: p.reduces,
    split_bytes: p.splitBytes,
    conf: Object.entries(p.conf).map(([key, value]) => ({ key, value })),
    name: p.name,
    cache_files: p.cacheFiles.map(normalizePath),
  }, kClusterDefaults.rpcDeadlineMs);
  return reply.job_id;
}

export function progressText(s: M.JobStatus): string {
  const secs = (s.elapsed_ms / 1000).toFixed(1);
  return `${s.job_id}  map ${s.maps_decided}/${s.maps_total} decided (${s.maps_reported} reported)  ` +
    (s.reduces_total ? `reduce ${s.reduces_decided}/${s.reduces_total} decided (${s.reduces_reported} reported)  ` : '') + `${secs}s`;
}

/** After this long with nothing newly reported or decided, the progress line says what the job waits for. */
const STALLED_MS = 60_000;

/**
 * What a job that has shown no progress for a while waits for: the trackers whose attempts are
 * still running, and how long the oldest has gone without a report (more than f hung trackers
 * hold a job forever: no f+1 can agree, and no deadline applies before a task is decided), and
 * how to stop it (`throwaway`: on `bftmr run`'s own cluster).
 */
export function waitingText(jobId: string, attempts: readonly M.AttemptInfo[], elapsedMs: number, throwaway = false): string | undefined {
  const running = attempts.filter((a) => a.outcome === 'running');
  if (running.length === 0) return undefined;
  const trackers = [...new Set(running.map((a) => a.tracker_id))].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  const oldestSecs = Math.round((elapsedMs - Math.min(...running.map((a) => Number(a.start_ms)))) / 1000);
  const stop = throwaway ? 'Ctrl-C stops the job and its cluster' : `\`bftmr job kill ${jobId}\` stops the job`;
  return `no report for ${oldestSecs}s from ${trackers.join(', ')} (${countOf(running.length, 'attempt')} running); ${stop}`;
}

/** How long a waiting client goes on asking a job tracker that does not answer. */
const JT_PATIENCE_MS = 60_000;

/**
 * Follows the job until it ends, showing progress on a terminal. A job the job tracker runs again
 * after a restart is followed to its rerun (with a note on stderr): the status returned is the
 * rerun's. `throwaway`: the job runs on `bftmr run`'s own cluster (Ctrl-C, not `job kill`, stops it).
 */
export async function waitForJob(dfs: DfsClient, jobId: string, showProgress: boolean, throwaway = false): Promise<M.JobStatus> {
  const line = new ProgressLine(showProgress);
  // How often the progress line changes; without one, the job tracker is asked every 20 s.
  const waitMs = showProgress ? 200 : 20_000;
  let downSince: number | undefined;
  /** The progress last seen, when it was first seen, and what the job waits for once it stalls (looked up every 10 s). */
  let progress = '';
  let progressSince = Date.now();
  let waiting: { text: string | undefined; atMs: number } | undefined;
  try {
    for (;;) {
      let s: M.JobStatus;
      const asked = Date.now();
      try {
        // The job tracker answers when the job ends, or after the wait: the end is known at once.
        s = await dfs.jobTracker.call<M.GetJobRequest, M.JobStatus>('GetJob', { job_id: jobId, wait_ms: waitMs },
          waitMs + kClusterDefaults.rpcDeadlineMs);
        downSince = undefined;
      } catch (e) {
        // A job tracker being restarted is waited for (its jobs run again when it is back).
        if (!isBftmrError(e, 'UNAVAILABLE')) throw e;
        downSince ??= Date.now();
        const down = Date.now() - downSince;
        if (down > JT_PATIENCE_MS) throw e;
        line.update(`${jobId}  the job tracker does not answer (${messageOf(e)}); retrying for ${Math.ceil((JT_PATIENCE_MS - down) / 1000)}s more`);
        await sleep(500);
        continue;
      }
      if (s.rerun_as) {
        line.done();
        process.stderr.write(`bftmr: ${jobId} was interrupted by a restart of the job tracker; it runs again as ${s.rerun_as}\n`);
        jobId = s.rerun_as;
        [progress, progressSince, waiting] = ['', Date.now(), undefined];
        continue;
      }
      if (s.state !== 'RUNNING') return s;
      const seen = `${s.maps_reported}/${s.maps_decided}/${s.reduces_reported}/${s.reduces_decided}`;
      if (seen !== progress) [progress, progressSince, waiting] = [seen, Date.now(), undefined];
      if (showProgress && Date.now() - progressSince > STALLED_MS && !(waiting && Date.now() - waiting.atMs < 10_000)) {
        const attempts = await dfs.jobTracker.call<M.JobId, M.ListAttemptsReply>('ListAttempts', { job_id: jobId }, kClusterDefaults.rpcDeadlineMs)
          .then((r) => r.attempts, () => []);
        waiting = { text: waitingText(jobId, attempts, Number(s.elapsed_ms), throwaway), atMs: Date.now() };
      }
      // Stalled, the counts say nothing new: what it waits for goes first (a terminal line is cut at its width).
      line.update(waiting?.text ? `${s.job_id}  ${(Number(s.elapsed_ms) / 1000).toFixed(0)}s  ${waiting.text}` : progressText(s));
      // A job tracker that answered before the wait was up (one stopping, or one that does not wait)
      // is asked again after a pause, not at once.
      const early = waitMs - (Date.now() - asked);
      if (early > 0) await sleep(Math.min(early, 500));
    }
  } finally {
    line.done();
  }
}

export function summaryObject(s: M.JobStatus, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    job_id: s.job_id,
    name: s.name,
    state: s.state,
    ...(s.state === 'FAILED' || s.state === 'KILLED' ? { error: s.error, error_code: s.error_code } : {}),
    f: s.f,
    output: s.output,
    elapsed_ms: s.elapsed_ms,
    ...(s.rerun_as ? { rerun_as: s.rerun_as } : {}),
    ...(s.rerun_of ? { rerun_of: s.rerun_of } : {}),
    maps: { tasks: s.maps_total, attempts: s.map_attempts, local_reads: s.local_map_reads, fetched_bytes: s.map_fetched_bytes },
    reduces: { tasks: s.reduces_total, attempts: s.reduce_attempts, reruns: s.reduce_reruns },
    votes_decided: s.votes_decided,
    faulty_trackers: s.verdicts.map((v) => ({ tracker: v.tracker_id, reason: v.reason })),
    counters: Object.fromEntries(s.counters.map((c) => [c.name, c.value])),
    ...extra,
  };
}

export function summaryText(s: M.JobStatus, extraLines: string[] = []): string {
  // A job the job tracker's restart cut short: its record was last written when it was submitted,
  // so its time and counts say nothing.
  const cut = s.error_code === 'JOB_INTERRUPTED';
  const lines = cut ? [`${s.job_id} (${s.name}) ${s.state}, f=${s.f}: cut short by a restart of the job tracker`] : [
    `${s.job_id} (${s.name}) ${s.state} in ${(s.elapsed_ms / 1000).toFixed(1)}s, f=${s.f}`,
    `  maps:    ${countOf(s.maps_total, 'task')}, ${countOf(s.map_attempts, 'attempt')} run (${s.local_map_reads} read locally${s.map_fetched_bytes ? `, ${formatBytes(s.map_fetched_bytes)} fetched from other trackers` : ''})`,
    s.reduces_total === 0 && s.maps_total > 0 ? '  reduces: none (a map-only job: the maps write its output)'
      : `  reduces: ${countOf(s.reduces_total, 'task')}, ${countOf(s.reduce_attempts, 'attempt')} run (${s.reduce_reruns} rerun)`,
    `  votes decided: ${s.votes_decided}`,
  ];
  lines.push(`  output: ${s.output}${s.state === 'SUCCEEDED' ? ` (${countOf(s.reduces_total || s.maps_total, 'part file')})` : ' (not committed)'}`);
  if (s.rerun_of) lines.push(`  runs again ${s.rerun_of}, which was running when the job tracker stopped`);
  if (s.state === 'FAILED') lines.push(`  error: ${s.error}`);
  if (s.state === 'RUNNING' && s.error) lines.push(`  ${s.error}`);
  if (s.state === 'KILLED') lines.push(`  ${s.error}`);
  if (s.verdicts.length) {
    lines.push('  trackers proven faulty:');
    for (const v of s.verdicts) lines.push(`    ${v.tracker_id}: ${v.reason}`);
  }
  const counters = s.counters.filter((c) => /^(map|reduce)\.(input|output)\.records$/.test(c.name));
  if (counters.length) lines.push(`  records: ${counters.map((c) => `${c.name}=${c.value}`).join(' ')}`);
  // A failed job's error may quote what a tracker reported: no escape sequence of its reaches the terminal.
  return escapeControls([...lines, ...extraLines].join('\n'));
}
