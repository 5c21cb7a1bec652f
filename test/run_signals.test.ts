/**
 * `bftmr run` interrupted (Ctrl-C, kill) once its throw-away cluster is up: every daemon it started
 * is stopped and its directory goes, whether the signal comes while the job runs or while the run
 * is already stopping the cluster after the summary.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { alive } from '../cli/cluster_launcher.ts'; // a zombie (exited, not yet reaped by PID 1) is gone, as for `cluster stop`
import { normalisedOutput, ROOT, tempDir, until } from './helpers/cli.ts';

interface Run {
  exited: Promise<[number | null, NodeJS.Signals | null]>;
  /** The pids of the daemons the run started, once its cluster is up. */
  pids: Promise<number[]>;
  /** Resolves on the first output that holds `text`, as it comes. */
  printed: (text: string) => Promise<void>;
  kill: (sig: NodeJS.Signals) => void;
  /** What the run wrote to standard error so far (with BFTMR_DEBUG: stacks too), for a failure's message. */
  stderr: () => string;
}

/** `bftmr run` of `module` on `input`, with `tmp` as its temporary directory. */
function run(tmp: string, module: string, input: string, output: string, ...args: string[]): Run {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/bftmr.js'), 'run', module, '--input', input, '--output', output, ...args],
    { cwd: ROOT, env: { ...process.env, TMPDIR: tmp, BFTMR_DEBUG: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const waiting: { text: string; resolve: () => void }[] = [];
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    for (const w of waiting) if (out.includes(w.text)) w.resolve();
  });
  const printed = (text: string) => new Promise<void>((resolve) => (out.includes(text) ? resolve() : waiting.push({ text, resolve })));
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (code, signal) => resolve([code, signal])));
  const state = () => {
    const home = fs.readdirSync(tmp).find((n) => n.startsWith('bftmr-run-'));
    const file = home && path.join(tmp, home, 'cluster.json');
    return file && fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) as { jobTracker: { pid: number }; trackers: { pid: number }[] } : undefined;
  };
  const pids = until('the run\'s cluster to be up', async () => state(), (s) => s !== undefined, 120_000)
    .then((s) => [s!.jobTracker.pid, ...s!.trackers.map((tr) => tr.pid)]);
  return { exited, pids, printed, kill: (sig) => child.kill(sig), stderr: () => err };
}

/** Kills whatever the run left running (the test has failed by then), so that nothing outlives it. */
function reap(pids: number[]): void {
  for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
}

test('Ctrl-C while the job runs stops every daemon of the throw-away cluster, exits 130, and leaves neither its directory nor an output', async (t) => {
  const tmp = tempDir('bftmr-run-int-');
  const module = path.join(tmp, 'sleeps.ts');
  // Each map holds its thread for a minute: the job is still running when the signal comes.
  fs.writeFileSync(module, `export default {
  map(line: string) { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000); },
  reduce(key: string) {},
};\n`);
  const input = path.join(tmp, 'in.txt');
  fs.writeFileSync(input, 'one line\n');
  const output = path.join(tmp, 'out');
  const r = run(tmp, module, input, output, '--no-typecheck');
  const pids = await r.pids;
  t.teardown(() => reap(pids));
  await new Promise((res) => setTimeout(res, 2_000));
  r.kill('SIGINT');
  t.deepEqual(await r.exited, [130, null], r.stderr());
  t.deepEqual(pids.filter(alive), [], 'no daemon of the run is left');
  t.deepEqual(fs.readdirSync(tmp).filter((n) => n.startsWith('bftmr-run-')), [], 'its directory is gone');
  t.false(fs.existsSync(output));
});

test('a signal while the run stops its cluster after the job (the summary is out) does not cut the stop short: no daemon and no directory is left, and the run exits 0', async (t) => {
  const tmp = tempDir('bftmr-run-int-');
  const input = path.join(tmp, 'in.txt');
  fs.writeFileSync(input, 'to be or not to be\n');
  const output = path.join(tmp, 'out');
  const r = run(tmp, 'jobs/word_count.ts', input, output, '--json');
  const pids = await r.pids;
  t.teardown(() => reap(pids));
  // The summary is the last thing written before the cluster is stopped.
  await r.printed('"state"');
  r.kill('SIGTERM');
  const [code, signal] = await r.exited;
  t.deepEqual([code, signal], [0, null], `the run ends as it would have: the job succeeded\n${r.stderr()}`);
  t.deepEqual(pids.filter(alive), [], 'no daemon of the run is left');
  t.deepEqual(fs.readdirSync(tmp).filter((n) => n.startsWith('bftmr-run-')), [], 'its directory is gone');
  t.is(normalisedOutput(output), 'be\t2\nnot\t1\nor\t1\nto\t2\n', 'the output copied before the signal stays');
});
