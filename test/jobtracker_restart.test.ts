/**
 * The job tracker keeps the dfs namespace in level: killed and restarted on the same address, it
 * knows every file again, the task trackers register again, files and jobs work as before, and a
 * job it was running runs again as a new job, which the waiting client follows.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { bftmr, corpus, json, normalisedOutput, ROOT, tempDir, until, wordCountOracle } from './helpers/cli.ts';

interface Stat { size: number; blocks: { digest: string; replicas: { tracker_id: string }[] }[] }
interface Status { trackers: { id: string; alive: boolean; verdicts: string[]; blacklisted: boolean }[] }

/**
 * kill -9 of the cluster's job tracker (nothing is flushed on the way out), then the operator
 * starts it again by hand, on the same address and directory (with `options`); returns once `trackers` rejoined.
 */
const running = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };

/** kill -9 of the cluster's job tracker, and `bftmr jobtracker` again on its address and directory; the new one's pid. */
async function killAndStartJobTracker(home: string, ...options: string[]): Promise<number> {
  const state = JSON.parse(fs.readFileSync(path.join(home, 'cluster.json'), 'utf8'));
  process.kill(state.jobTracker.pid, 'SIGKILL');
  await until('the job tracker to die', async () => !running(state.jobTracker.pid), (x) => x);
  const logFile = path.join(state.jobTracker.dir, 'log');
  const listening = () => fs.readFileSync(logFile, 'utf8').split('job tracker listening').length - 1;
  const before = listening();
  const log = fs.openSync(logFile, 'a');
  const jt = spawn(process.execPath, [path.join(ROOT, 'bin/bftmr.js'), 'jobtracker', '--dir', state.jobTracker.dir,
    '--listen', state.jobTracker.address, ...options], { detached: true, stdio: ['ignore', log, log] });
  jt.unref();
  fs.closeSync(log);
  await until('the job tracker to listen', async () => listening() > before, (x) => x);
  return jt.pid!;
}

async function restartJobTracker(home: string, trackers: number, ...options: string[]): Promise<Status> {
  const stateFile = path.join(home, 'cluster.json');
  const jt = { pid: await killAndStartJobTracker(home, ...options) };
  // The CLI finds the job tracker started again by hand at its address, and notes its pid.
  const status = await until(`${trackers} trackers to rejoin`, () => json<Status>(bftmr(home, 'cluster', 'status', '--json')).catch(() => ({ trackers: [] })),
    (s) => s.trackers.filter((x) => x.alive).length === trackers);
  if (JSON.parse(fs.readFileSync(stateFile, 'utf8')).jobTracker.pid !== jt.pid) throw new Error('cluster.json does not name the new job tracker');
  return status;
}

test('a tracker proven faulty stays proven, and blacklisted, across a restart of the job tracker', async (t) => {
  const home = tempDir('bftmr-restart-verdicts-');
  t.is((await bftmr(home, 'cluster', 'start', '--trackers', '3', '--slots', '1', '--faulty', '1', '--fault', 'corrupt-map', '--blacklist-after', '0')).code, 0);
  try {
    t.is((await bftmr(home, 'dfs', 'put', corpus(), '/in/jargon.txt', '--block-mb', '0.5')).code, 0);
    const job = await bftmr(home, 'job', 'submit', 'jobs/word_count.ts', '--input', '/in', '--output', '/out/wc', '--split-mb', '0.5', '--json');
    t.is(job.code, 0, job.stderr);
    const proven = JSON.parse(job.stdout).faulty_trackers.map((v: { tracker: string }) => v.tracker);
    t.deepEqual([...new Set(proven)], ['tracker-0']);
    const before = (await json<Status>(bftmr(home, 'cluster', 'status', '--json'))).trackers;
    const after = (await restartJobTracker(home, 3, '--blacklist-after', '0')).trackers;
    const seen = (ts: Status['trackers']) => ts.map((x) => [x.id, x.verdicts, x.blacklisted]).sort((a, b) => (a[0]! < b[0]! ? -1 : 1));
    t.deepEqual(seen(after), seen(before));
    t.true(after.find((x) => x.id === 'tracker-0')!.blacklisted);
  } finally {
    await bftmr(home, 'cluster', 'stop');
  }
});

test('a job tracker killed and restarted keeps the namespace; trackers rejoin; reads work; the job it ran runs again', async (t) => {
  const home = tempDir('bftmr-restart-');
  const text = corpus();
  t.is((await bftmr(home, 'cluster', 'start', '--trackers', '3', '--slots', '1')).code, 0);
  try {
    t.is((await bftmr(home, 'dfs', 'put', text, '/in/jargon.txt', '--block-mb', '0.5')).code, 0);
    t.is((await bftmr(home, 'dfs', 'put', text, '/in/again.txt', '--replication', '2')).code, 0);
    const before = await json<Stat>(bftmr(home, 'dfs', 'stat', '/in/jargon.txt', '--json'));
    // A job that ends before the crash, and one that is running when it comes: a word count whose
    // maps spin while a marker file exists. Its client waits.
    const done = await json<{ job_id: string; state: string }>(bftmr(home, 'job', 'submit', 'jobs/grep.ts', '--input', '/in/again.txt',
      '--output', '/out/grep', '--conf', 'pattern=hack', '--json'));
    t.is(done.state, 'SUCCEEDED');
    const dir = tempDir('bftmr-restart-spin-');
    const marker = path.join(dir, 'hold');
    fs.writeFileSync(marker, '');
    const spin = path.join(dir, 'spin.ts');
    fs.writeFileSync(spin, `import fs from 'node:fs';
export default {
  map(line: string, ctx: any) {
    while (fs.existsSync(${JSON.stringify(marker)})) { /* held */ }
    for (const m of line.matchAll(/[A-Za-z0-9]+/g)) ctx.emit(m[0].toLowerCase(), '1');
  },
  reduce(word: string, counts: string[], ctx: any) { ctx.emit(word, String(counts.reduce((n, c) => n + Number(c), 0))); },
};
`);
    const waiting = bftmr(home, 'job', 'submit', spin, '--input', '/in/again.txt', '--output', '/out/spin', '--json');
    const cut = await until('the held job to be submitted', async () => (await json<{ job_id: string; state: string }[]>(bftmr(home, 'job', 'list', '--json')))
      .find((j) => j.state === 'RUNNING'), (j) => j !== undefined);
    await until('its attempts to start', async () => (await json<{ outcome: string }[]>(bftmr(home, 'job', 'attempts', cut!.job_id, '--json')))
      .filter((a) => a.outcome === 'running').length, (n) => n >= 2);
    const list = (await bftmr(home, 'dfs', 'ls', '-R', '/')).stdout;

    const status = await restartJobTracker(home, 3);
    t.deepEqual(status.trackers.map((x) => x.id).sort(), ['tracker-0', 'tracker-1', 'tracker-2']);
    t.is((await bftmr(home, 'dfs', 'ls', '-R', '/')).stdout, list);
    const after = await json<Stat>(bftmr(home, 'dfs', 'stat', '/in/jargon.txt', '--json'));
    const where = (s: Stat) => s.blocks.map((b) => `${b.digest}@${b.replicas.map((r) => r.tracker_id).sort().join(',')}`);
    t.deepEqual(where(after), where(before));
    t.deepEqual(after.blocks.map((b) => b.replicas.map((r) => r.tracker_id).sort()), before.blocks.map((b) => b.replicas.map((r) => r.tracker_id).sort()));

    const out = path.join(tempDir('bftmr-restart-out-'), 'copy.txt');
    t.is((await bftmr(home, 'dfs', 'get', '/in/jargon.txt', out)).code, 0);
    t.true(fs.readFileSync(out).equals(fs.readFileSync(text)));
    // Job history: the finished job as it ended. The running one runs again as a new job; the
    // attempts of the old one, which no job needs, are stopped (each tracker has one slot, and the
    // rerun's two attempts need two trackers), and its data dropped.
    t.is((await json<{ state: string }>(bftmr(home, 'job', 'status', done.job_id, '--json'))).state, 'SUCCEEDED');
    const interrupted = await until('the held job to run again', () => json<{ state: string; error_code: string; rerun_as?: string }>(
      bftmr(home, 'job', 'status', cut!.job_id, '--json')), (s) => !!s.rerun_as);
    t.like(interrupted, { state: 'FAILED', error_code: 'JOB_INTERRUPTED' });
    const rerun = interrupted.rerun_as!;
    await until('the rerun\'s attempts to start', async () => (await json<{ outcome: string }[]>(bftmr(home, 'job', 'attempts', rerun, '--json')))
      .filter((a) => a.outcome === 'running').length, (n) => n >= 2);
    const logs = status.trackers.map((x) => fs.readFileSync(path.join(home, x.id, 'log'), 'utf8')).join('');
    t.regex(logs, new RegExp(`${cut!.job_id}: dropped intermediate data`));
    // Released, the rerun ends; the client that submitted the old job followed it.
    fs.rmSync(marker);
    const client = await waiting;
    t.is(client.code, 0, client.stderr);
    t.regex(client.stderr, new RegExp(`${cut!.job_id} was interrupted by a restart of the job tracker; it runs again as ${rerun}`));
    t.like(JSON.parse(client.stdout), { job_id: rerun, state: 'SUCCEEDED', rerun_of: cut!.job_id, output: '/out/spin' });
    const spun = path.join(tempDir('bftmr-restart-spun-'), 'wc');
    t.is((await bftmr(home, 'dfs', 'get', '/out/spin', spun)).code, 0);
    t.is(normalisedOutput(spun), wordCountOracle(text));

    const job = await bftmr(home, 'job', 'submit', 'jobs/word_count.ts', '--input', '/in/jargon.txt', '--output', '/out/wc', '--split-mb', '0.5', '--json');
    t.is(job.code, 0, job.stderr);
    for (const id of [done.job_id, cut!.job_id, rerun]) t.not(JSON.parse(job.stdout).job_id, id, 'no job id is used twice');
    const local = path.join(tempDir('bftmr-restart-wc-'), 'wc');
    t.is((await bftmr(home, 'dfs', 'get', '/out/wc', local)).code, 0);
    t.is(normalisedOutput(local), wordCountOracle(text));
    t.is((await bftmr(home, 'dfs', 'fsck')).code, 0);
  } finally {
    await bftmr(home, 'cluster', 'stop');
  }
});

test('cluster stop stops a job tracker started again by hand, found at its address; the cluster can then start again', async (t) => {
  const home = tempDir('bftmr-restart-stop-');
  t.is((await bftmr(home, 'cluster', 'start', '--trackers', '1', '--slots', '1')).code, 0);
  const pid = await killAndStartJobTracker(home);
  const stop = await bftmr(home, 'cluster', 'stop');
  t.is(stop.code, 0, stop.stderr);
  await until('the job tracker started by hand to stop', async () => !running(pid), (x) => x);
  const again = await bftmr(home, 'cluster', 'start', '--trackers', '1', '--slots', '1');
  t.is(again.code, 0, again.stderr);
  t.is((await bftmr(home, 'cluster', 'stop')).code, 0);
});

test('a whole cluster stopped and started again in its home keeps its files, every block where it was', async (t) => {
  const home = tempDir('bftmr-restart-whole-');
  const text = corpus();
  t.is((await bftmr(home, 'cluster', 'start', '--trackers', '3', '--slots', '1')).code, 0);
  try {
    t.is((await bftmr(home, 'dfs', 'put', text, '/kept.txt', '--block-mb', '0.5')).code, 0);
    const before = await json<Stat>(bftmr(home, 'dfs', 'stat', '/kept.txt', '--json'));
    t.is((await bftmr(home, 'cluster', 'stop')).code, 0);
    const again = await bftmr(home, 'cluster', 'start', '--trackers', '3', '--slots', '1');
    t.is(again.code, 0, again.stderr);
    t.is((await bftmr(home, 'dfs', 'cat', '/kept.txt')).stdout, fs.readFileSync(text, 'utf8'));
    const after = await json<Stat>(bftmr(home, 'dfs', 'stat', '/kept.txt', '--json'));
    const where = (s: Stat) => s.blocks.map((b) => `${b.digest}@${b.replicas.map((r) => r.tracker_id).sort().join(',')}`);
    t.deepEqual(where(after), where(before));
    const fsck = await bftmr(home, 'dfs', 'fsck', '/');
    t.is(fsck.code, 0, fsck.stdout + fsck.stderr);
  } finally {
    await bftmr(home, 'cluster', 'stop');
  }
});
