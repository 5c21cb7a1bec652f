/**
 * Starting and stopping a local multi-process cluster: one job tracker and N task trackers, each
 * a real process with its own directory under the state directory (`--home`). `cluster.json`
 * there tells later commands where the cluster is.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import { onThisHost } from '../lib/hosts.ts';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { BftmrError } from '../lib/errors.ts';
import { RpcClient, useCredentials } from '../lib/rpc.ts';
import { createAuthority, issue, readAuthority, readCredentials, writeAuthority, writeCredentials, type Authority, type Credentials, type Role } from '../lib/identity.ts';
import type * as M from '../lib/messages.ts';
import { kClusterDefaults } from '../lib/options.ts';

const BIN = fileURLToPath(new URL('../bin/bftmr.js', import.meta.url));

export interface ProcessInfo {
  pid: number;
  dir: string;
  log: string;
  fault?: string;
}

export interface ClusterState {
  home: string;
  /** `address`: where this host reaches it; `advertised`: where other hosts do (a cluster started to listen on every address). */
  jobTracker: ProcessInfo & { address: string; advertised?: string };
  trackers: ProcessInfo[];
  startedMs: number;
  /**
   * A client's home for a cluster whose daemons run elsewhere (`cluster credentials --role client
   * --jobtracker HOST:PORT`): only its address and a client certificate; no process of it is ours
   * to watch or signal (its pids are 0).
   */
  remote?: boolean;
}

export interface StartOptions {
  trackers: number;
  /** Aborted (Ctrl-C): the daemons started so far are killed and the start fails with INTERRUPTED. */
  signal?: AbortSignal;
  slots?: number;
  /** Heap cap of one task worker, in MB. */
  taskMemoryMb?: number;
  faulty?: number;
  fault?: string;
  /** Background daemons that outlive this command (`cluster start`), or children of it (`run`). */
  detached: boolean;
  heartbeatIntervalMs?: number;
  trackerExpiryMs?: number;
  lateFloorMs?: number;
  deadlineFloorMs?: number;
  dfsAuditIntervalMs?: number;
  blacklistAfterVerdicts?: number;
  jobHistory?: number;
  writeLeaseMs?: number;
  jobCodeKeepMs?: number;
  blockReportMs?: number;
  /**
   * The address every daemon listens on (default 127.0.0.1: this host only); 0.0.0.0 or :: lets
   * task trackers on other hosts join (`cluster credentials`, then `bftmr tasktracker`).
   */
  listenHost?: string;
  /** The name other hosts reach this host's daemons by (default: the listen address, or this host's name for 0.0.0.0 and ::). */
  advertiseHost?: string;
  /** The job tracker's port (default: any free one), for trackers on other hosts to name. */
  jobTrackerPort?: number;
  onProgress?: (line: string) => void;
}

const hostPort = (host: string, port: number | string) => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

export const stateFile = (home: string) => path.join(home, 'cluster.json');

export async function readState(home: string): Promise<ClusterState | undefined> {
  let text: string;
  try {
    text = await fsp.readFile(stateFile(home), 'utf8');
  } catch {
    return undefined;
  }
  let state: ClusterState;
  try {
    state = JSON.parse(text) as ClusterState;
  } catch {
    // Not "no cluster": a start here would take a client's home, or a running cluster's, for an empty one.
    throw new BftmrError('LOCAL_IO', `${stateFile(home)} is not a cluster's state (not JSON): fix or remove it`);
  }
  // A client's home is copied to other hosts: it is where it was read from.
  return state.remote ? { ...state, home: path.resolve(home) } : state;
}

/** A host that names no host to connect to: where a daemon listens on every address (0.0.0.0, ::). */
export function isWildcard(host: string): boolean {
  return ['0.0.0.0', '::', '[::]'].includes(host);
}

/** Refused when `state` is a client's home for a cluster elsewhere (its processes are not here); `advice`: what to do instead. */
export function refuseRemote(state: ClusterState | undefined, advice: string): void {
  if (!state?.remote) return;
  throw new BftmrError('JOB_BAD_ARGUMENT', `${state.home} is a home for using the cluster whose job tracker is at ${state.jobTracker.address}, from another host: ${advice}`);
}

/**
 * Makes `dir` a home from which the CLI on another host uses this cluster: a certificate of `ca`
 * for `role` and `name`, and the job tracker's address as that host reaches it.
 */
export async function writeClientHome(ca: Authority, role: 'client' | 'admin', name: string, dir: string, jobTracker: string): Promise<void> {
  // A new directory only: a stopped cluster's home (its CA, its nodes' data) would be taken over.
  if ((await fsp.readdir(dir).catch(() => [])).length > 0) throw new BftmrError('DFS_EXISTS', `${dir} is not empty: a client's home is a new directory`);
  await writeCredentials(tlsDir(clientDir(dir)), issue(ca, role, name));
  const nobody = { pid: 0, dir: '', log: '' };
  await writeState({ home: dir, jobTracker: { ...nobody, address: jobTracker }, trackers: [], startedMs: Date.now(), remote: true });
}

/** Writes the home's cluster.json whole or not at all (a torn one would read as no cluster). */
async function writeState(state: ClusterState): Promise<void> {
  const tmp = `${stateFile(state.home)}.${process.pid}.tmp`;
  await fsp.writeFile(tmp, JSON.stringify(state, null, 2) + '\n');
  await fsp.rename(tmp, stateFile(state.home));
}

/**
 * Whether `pid` is still one of bftmr's daemons. Where /proc tells, a process by that number
 * that is not bftmr (the number was reused, after a reboot say) or is a zombie does not count, so
 * it is never signalled as one of ours.
 */
export function alive(pid: number): boolean {
  try { process.kill(pid, 0); } catch { return false; }
  let cmdline: string;
  try { cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'); } catch { return true; } // no /proc here
  return cmdline.includes('bftmr');
}

// ---------- identities ----------
// The cluster CA lives in `<home>/ca` (its key never leaves that directory); each node's
// certificate and key in `<its dir>/tls`; the CLI's own in `<home>/client/tls`.

export const tlsDir = (nodeDir: string) => path.join(nodeDir, 'tls');
const caDir = (home: string) => path.join(home, 'ca');
const clientDir = (home: string) => path.join(home, 'client');

/** The CA of `home`, created on first use. */
export async function authorityOf(home: string, create = true): Promise<Authority> {
  const existing = await readAuthority(caDir(home));
  if (existing) return existing;
  if (!create) throw new BftmrError('AUTH_NO_CREDENTIALS', `${home} has no cluster CA (bftmr cluster start creates one)`);
  const ca = createAuthority();
  await writeAuthority(caDir(home), ca);
  return ca;
}

/** Issues a certificate for a node into `dir`. */
export async function issueInto(ca: Authority, role: Role, name: string, dir: string): Promise<void> {
  await writeCredentials(dir, issue(ca, role, name));
}

/**
 * The cluster's job tracker is gone: if some of its task trackers still run, say so (a new start
 * would find their directories in use); otherwise there is no cluster.
 */
function leftBehind(state: ClusterState): never {
  const running = state.trackers.filter((t) => alive(t.pid));
  if (running.length === 0) throw new BftmrError('CLUSTER_NOT_RUNNING', `no cluster is running in ${state.home} (start one with: bftmr cluster start)`);
  throw new BftmrError('CLUSTER_NOT_RUNNING', `the job tracker of the cluster in ${state.home} is not running (pid ${state.jobTracker.pid} is gone), ` +
    `but ${running.length} of its task trackers are (pids ${running.map((t) => t.pid).join(', ')}): \`bftmr cluster stop\` stops them, then start it again`);
}

/** The running cluster of `home`, or CLUSTER_NOT_RUNNING; this process then speaks as its client. */
export async function findCluster(home: string): Promise<ClusterState> {
  const state = await readState(home);
  if (!state) throw new BftmrError('CLUSTER_NOT_RUNNING', `no cluster is running in ${home} (start one with: bftmr cluster start)`);
  useCredentials(await readCredentials(tlsDir(clientDir(home))));
  // Elsewhere: whether its job tracker runs, the first call finds out (UNAVAILABLE, naming its address).
  if (state.remote) return state;
  if (!(await jobTrackerRuns(state))) leftBehind(state);
  return state;
}

/**
 * Whether the cluster's job tracker runs: its recorded process, or one started again by hand
 * (`bftmr jobtracker` with the same --dir and --listen, as after a crash) that answers at its
 * address under the cluster's CA; that one's pid is then recorded, for the commands that talk to
 * it and for `cluster stop`.
 */
export async function jobTrackerRuns(state: ClusterState): Promise<boolean> {
  if (alive(state.jobTracker.pid)) return true;
  const st = (await statusAsHome(state))?.st;
  if (!st || !alive(st.pid)) return false;
  state.jobTracker.pid = st.pid;
  await writeState(state).catch(() => {});
  return true;
}

/** The job tracker's status, asked with the home's client credentials; undefined if either is missing. */
async function statusAsHome(state: ClusterState): Promise<{ creds: Credentials; st: M.ClusterStatusReply } | undefined> {
  const creds = await readCredentials(tlsDir(clientDir(state.home))).catch(() => undefined);
  const st = creds && (await clusterStatus(state.jobTracker.address, creds).catch(() => undefined));
  return creds && st ? { creds, st } : undefined;
}

/** `credentials`: see RpcClient (this process's own by default). */
export async function clusterStatus(address: string, credentials?: Credentials): Promise<M.ClusterStatusReply> {
  const jt = new RpcClient('JobTracker', address, credentials);
  try {
    return await jt.call<M.Empty, M.ClusterStatusReply>('ClusterStatus', {}, 5_000);
  } finally {
    jt.close();
  }
}

function launch(args: string[], log: string, detached: boolean): ChildProcess {
  const fd = fs.openSync(log, 'a');
  const child = spawn(process.execPath, [BIN, ...args], {
    detached,
    stdio: ['ignore', fd, fd],
    env: { ...process.env, BFTMR_DAEMON: '1' },
  });
  fs.closeSync(fd);
  if (detached) child.unref();
  return child;
}

async function tail(file: string): Promise<string> {
  const text = await fsp.readFile(file, 'utf8').catch(() => '');
  return text.trim().split('\n').slice(-3).join(' | ');
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, signal?: AbortSignal): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    interrupted(signal);
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new BftmrError('CLUSTER_START_FAILED', `timed out waiting for ${what}`);
    await sleep(100);
  }
}

function interrupted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new BftmrError('INTERRUPTED', 'interrupted: the daemons started so far were stopped');
}

/** Starts a cluster; returns when the job tracker answers and every tracker has registered. */
export async function startCluster(home: string, opts: StartOptions): Promise<ClusterState> {
  const existing = await readState(home);
  refuseRemote(existing, 'a new cluster starts in a home of its own');
  if (existing && (await jobTrackerRuns(existing))) {
    throw new BftmrError('CLUSTER_RUNNING', `a cluster is already running in ${home} (job tracker at ${existing.jobTracker.address})`);
  }
  if (existing && existing.trackers.some((t) => alive(t.pid))) leftBehind(existing);
  await fsp.mkdir(home, { recursive: true });
  const children: ChildProcess[] = [];
  const say = opts.onProgress ?? (() => {});
  try {
    const ca = await authorityOf(home);
    const client = issue(ca, 'admin', 'cli');
    await writeCredentials(tlsDir(clientDir(home)), client);
    useCredentials(client);
    const jtDir = path.join(home, 'jobtracker');
    await fsp.mkdir(jtDir, { recursive: true });
    await issueInto(ca, 'jobtracker', 'jobtracker', tlsDir(jtDir));
    const ready = path.join(jtDir, 'address');
    await fsp.rm(ready, { force: true });
    const jtLog = path.join(jtDir, 'log');
    const listenHost = opts.listenHost ?? '127.0.0.1';
    const advertiseHost = opts.advertiseHost ?? (isWildcard(listenHost) ? os.hostname() : listenHost);
    const jtArgs = ['jobtracker', '--dir', jtDir, '--ready-file', ready, '--listen', hostPort(listenHost, opts.jobTrackerPort ?? 0)];
    if (opts.heartbeatIntervalMs) jtArgs.push('--heartbeat-ms', String(opts.heartbeatIntervalMs));
    if (opts.trackerExpiryMs) jtArgs.push('--expiry-ms', String(opts.trackerExpiryMs));
    if (opts.lateFloorMs !== undefined) jtArgs.push('--late-floor-ms', String(opts.lateFloorMs));
    if (opts.deadlineFloorMs !== undefined) jtArgs.push('--deadline-floor-ms', String(opts.deadlineFloorMs));
    if (opts.dfsAuditIntervalMs !== undefined) jtArgs.push('--dfs-audit-ms', String(opts.dfsAuditIntervalMs));
    if (opts.blacklistAfterVerdicts !== undefined) jtArgs.push('--blacklist-after', String(opts.blacklistAfterVerdicts));
    if (opts.jobHistory !== undefined) jtArgs.push('--job-history', String(opts.jobHistory));
    if (opts.writeLeaseMs !== undefined) jtArgs.push('--write-lease-ms', String(opts.writeLeaseMs));
    if (opts.jobCodeKeepMs !== undefined) jtArgs.push('--job-code-keep-ms', String(opts.jobCodeKeepMs));
    const jt = launch(jtArgs, jtLog, opts.detached);
    children.push(jt);
    say('starting job tracker');
    const listening = await waitFor('the job tracker', kClusterDefaults.startTimeoutMs, async () => {
      if (jt.exitCode !== null) throw new BftmrError('CLUSTER_START_FAILED', `the job tracker exited: ${await tail(jtLog)}`);
      return fsp.readFile(ready, 'utf8').then((s) => s.trim() || undefined, () => undefined);
    }, opts.signal);
    // This host's own daemons and the CLI reach a job tracker listening on every address by loopback.
    const jtPort = listening.slice(listening.lastIndexOf(':') + 1);
    const address = isWildcard(listenHost) ? hostPort(listenHost === '::' ? '::1' : '127.0.0.1', jtPort) : listening;

    const trackers: ProcessInfo[] = [];
    for (let i = 0; i < opts.trackers; i++) {
      const dir = path.join(home, `tracker-${i}`);
      await fsp.mkdir(dir, { recursive: true });
      await issueInto(ca, 'tasktracker', `tracker-${i}`, tlsDir(dir));
      const log = path.join(dir, 'log');
      const fault = i < (opts.faulty ?? 0) ? opts.fault : undefined;
      const args = ['tasktracker', '--jobtracker', address, '--dir', dir, '--listen', hostPort(listenHost, 0), '--advertise-host', advertiseHost];
      if (opts.slots) args.push('--slots', String(opts.slots));
      if (opts.taskMemoryMb) args.push('--task-memory-mb', String(opts.taskMemoryMb));
      if (fault) args.push('--fault', fault);
      if (opts.blockReportMs !== undefined) args.push('--block-report-ms', String(opts.blockReportMs));
      const child = launch(args, log, opts.detached);
      children.push(child);
      trackers.push({ pid: child.pid!, dir, log, fault });
    }
    say(`starting ${opts.trackers} task trackers`);
    await waitFor(`${opts.trackers} task trackers to register`, kClusterDefaults.startTimeoutMs, async () => {
      for (const [i, c] of children.entries()) {
        if (c.exitCode !== null) {
          const log = i === 0 ? jtLog : trackers[i - 1]!.log;
          throw new BftmrError('CLUSTER_START_FAILED', `a daemon exited during start: ${await tail(log)}`);
        }
      }
      const st = await clusterStatus(address).catch(() => undefined);
      return st && st.trackers.filter((t) => t.alive).length >= opts.trackers ? st : undefined;
    }, opts.signal);
    interrupted(opts.signal);
    const state: ClusterState = {
      home, jobTracker: { pid: jt.pid!, dir: jtDir, log: jtLog, address, ...(isWildcard(listenHost) ? { advertised: hostPort(advertiseHost, jtPort) } : {}) },
      trackers, startedMs: Date.now(),
    };
    await writeState(state);
    return state;
  } catch (e) {
    for (const c of children) c.kill('SIGKILL');
    throw e;
  }
}

/**
 * Stops every process of the cluster (politely, then by force) and forgets it. That includes the
 * task trackers it did not start that the job tracker sees alive: one started again by hand
 * after a crash, one that joined from another host. Those are asked to shut down over RPC before
 * the job tracker stops; the pid such a tracker reports is only its word, so it is waited for
 * (while it runs on this host, for the same grace), never signalled.
 */
export async function stopCluster(state: ClusterState, graceMs = 10_000): Promise<void> {
  refuseRemote(state, 'stop it on its own host');
  const asked = await stopUnrecordedTrackers(state);
  const pids = [state.jobTracker.pid, ...state.trackers.map((t) => t.pid)].filter(alive);
  for (const pid of pids) { try { process.kill(pid, 'SIGTERM'); } catch { /* already gone */ } }
  const deadline = Date.now() + graceMs;
  while ([...pids, ...asked].some(alive) && Date.now() < deadline) await sleep(50);
  for (const pid of pids.filter(alive)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  while (pids.some(alive)) await sleep(20);
  await fsp.rm(stateFile(state.home), { force: true });
}

/**
 * Asks the live task trackers that `state` did not start (by id: `tracker-N` is the Nth it
 * started, while that process runs) to shut down; returns the pids of those that said they run on
 * this host. Nothing to do when the job tracker does not answer.
 */
async function stopUnrecordedTrackers(state: ClusterState): Promise<number[]> {
  const asked = alive(state.jobTracker.pid) ? await statusAsHome(state) : undefined;
  if (!asked) return [];
  const { creds, st } = asked;
  const started = new Set(state.trackers.filter((t) => alive(t.pid)).map((t) => path.basename(t.dir)));
  const others = st.trackers.filter((t) => t.alive && !started.has(t.tracker_id));
  await Promise.all(others.map(async (t) => {
    const tt = new RpcClient('TaskTracker', t.address, creds);
    // One that is gone already, or refuses, is left to its own end: it cannot rejoin a stopped job tracker.
    try { await tt.call<M.Empty, M.Empty>('Shutdown', {}, 5_000); } catch { /* see above */ } finally { tt.close(); }
  }));
  return others.filter((t) => onThisHost(t.address)).map((t) => t.pid);
}
