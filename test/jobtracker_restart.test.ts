/**
 * The job tracker keeps the dfs namespace in level: killed and restarted on the same address, it
 * knows every file again, the task trackers register again, and files and jobs work as before.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { bftmr, corpus, json, normalisedOutput, ROOT, tempDir, until, wordCountOracle } from './helpers/cli.ts';

interface Stat { size: number; blocks: { digest: string; replicas: { tracker_id: string }[] }[] }
interface Status { trackers: { id: string; alive: boolean }[] }

test('a job tracker killed and restarted keeps the namespace; trackers rejoin; reads and jobs work', async (t) => {
  const home = tempDir('bftmr-restart-');
  const text = corpus();
  t.is((await bftmr(home, 'cluster', 'start', '--trackers', '3', '--slots', '1')).code, 0);
  try {
    t.is((await bftmr(home, 'dfs', 'put', text, '/in/jargon.txt', '--block-mb', '0.5')).code, 0);
    t.is((await bftmr(home, 'dfs', 'put', text, '/in/again.txt', '--replication', '2')).code, 0);
    const before = await json<Stat>(bftmr(home, 'dfs', 'stat', '/in/jargon.txt', '--json'));
    // A job that ends before the crash, and one that never ends, running when it comes.
    const done = await json<{ job_id: string; state: string }>(bftmr(home, 'job', 'submit', 'jobs/grep.ts', '--input', '/in/again.txt',
      '--output', '/out/grep', '--conf', 'pattern=hack', '--json'));
    t.is(done.state, 'SUCCEEDED');
    const spin = path.join(tempDir('bftmr-restart-spin-'), 'spin.ts');
    fs.writeFileSync(spin, 'export default { map() { for (;;) { /* never ends */ } }, reduce() {} };\n');
    const cut = await json<{ job_id: string }>(bftmr(home, 'job', 'submit', spin, '--input', '/in/again.txt', '--output', '/out/spin', '--no-wait', '--json'));
    await until('the spinning attempts to start', async () => (await json<{ outcome: string }[]>(bftmr(home, 'job', 'attempts', cut.job_id, '--json')))
      .filter((a) => a.outcome === 'running').length, (n) => n >= 2);
    const list = (await bftmr(home, 'dfs', 'ls', '-R', '/')).stdout;

    // kill -9: nothing is flushed on the way out.
    const stateFile = path.join(home, 'cluster.json');
    const state = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
    process.kill(state.jobTracker.pid, 'SIGKILL');
    await until('the job tracker to die', async () => { try { process.kill(state.jobTracker.pid, 0); return false; } catch { return true; } }, (x) => x);

    // The operator starts it again by hand, on the same address and directory.
    const log = fs.openSync(path.join(state.jobTracker.dir, 'log'), 'a');
    const jt = spawn(process.execPath, [path.join(ROOT, 'bin/bftmr.js'), 'jobtracker', '--dir', state.jobTracker.dir,
      '--listen', state.jobTracker.address], { detached: true, stdio: ['ignore', log, log] });
    jt.unref();
    fs.closeSync(log);
    fs.writeFileSync(stateFile, JSON.stringify({ ...state, jobTracker: { ...state.jobTracker, pid: jt.pid } }));

    const status = await until('three trackers to rejoin', () => json<Status>(bftmr(home, 'cluster', 'status', '--json')).catch(() => ({ trackers: [] })),
      (s) => s.trackers.filter((x) => x.alive).length === 3);
    t.deepEqual(status.trackers.map((x) => x.id).sort(), ['tracker-0', 'tracker-1', 'tracker-2']);
    t.is((await bftmr(home, 'dfs', 'ls', '-R', '/')).stdout, list);
    const after = await json<Stat>(bftmr(home, 'dfs', 'stat', '/in/jargon.txt', '--json'));
    t.deepEqual(after.blocks.map((b) => b.digest), before.blocks.map((b) => b.digest));
    t.deepEqual(after.blocks.map((b) => b.replicas.map((r) => r.tracker_id).sort()), before.blocks.map((b) => b.replicas.map((r) => r.tracker_id).sort()));

    const out = path.join(tempDir('bftmr-restart-out-'), 'copy.txt');
    t.is((await bftmr(home, 'dfs', 'get', '/in/jargon.txt', out)).code, 0);
    t.true(fs.readFileSync(out).equals(fs.readFileSync(text)));
    // Job history: the finished job as it ended; the running one over, to be submitted again.
    t.is((await json<{ state: string }>(bftmr(home, 'job', 'status', done.job_id, '--json'))).state, 'SUCCEEDED');
    const interrupted = await json<{ state: string; error_code: string; error: string }>(bftmr(home, 'job', 'status', cut.job_id, '--json'));
    t.like(interrupted, { state: 'FAILED', error_code: 'JOB_INTERRUPTED' });
    t.regex(interrupted.error, /the job tracker stopped while the job ran/);
    // The spinning attempts no job needs are stopped (or the next job would find no free slot), and its data dropped.
    const job = await bftmr(home, 'job', 'submit', 'jobs/word_count.ts', '--input', '/in/jargon.txt', '--output', '/out/wc', '--split-mb', '0.5', '--json');
    t.is(job.code, 0, job.stderr);
    t.not(JSON.parse(job.stdout).job_id, done.job_id, 'no job id is used twice');
    t.not(JSON.parse(job.stdout).job_id, cut.job_id);
    const logs = status.trackers.map((x) => fs.readFileSync(path.join(home, x.id, 'log'), 'utf8')).join('');
    t.regex(logs, new RegExp(`${cut.job_id}: dropped intermediate data`));
    const local = path.join(tempDir('bftmr-restart-wc-'), 'wc');
    t.is((await bftmr(home, 'dfs', 'get', '/out/wc', local)).code, 0);
    t.is(normalisedOutput(local), wordCountOracle(text));
    t.is((await bftmr(home, 'dfs', 'fsck')).code, 0);
  } finally {
    await bftmr(home, 'cluster', 'stop');
  }
});
