/**
 * A storage node that freezes (SIGSTOP: its sockets stay open, nothing answers) while the job
 * tracker still counts it live: reads go past it, a put places its copies on the other nodes, and
 * each command exits when its work is done, instead of waiting out a ten-minute transfer deadline
 * or a connection that never finishes its handshake.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { bftmr, blockFiles, corpus, json, ROOT, tempDir, until } from './helpers/cli.ts';

interface Tracker { id: string; pid: number }
interface Stat { blocks: { replicas: { tracker_id: string }[] }[] }

test.serial('with a frozen storage node, dfs get (short-circuit or not) and dfs put finish with the right bytes, and exit', async (t) => {
  const home = tempDir('bftmr-frozen-');
  const out = tempDir('bftmr-frozen-out-');
  const file = corpus();
  const bytes = fs.readFileSync(file);
  // The job tracker would declare it dead after ten minutes: until then it names it as a replica and a target.
  const start = await bftmr(home, 'cluster', 'start', '--trackers', '4', '--slots', '1', '--expiry-ms', '600000', '--dfs-audit-ms', '0');
  t.is(start.code, 0, start.stderr);
  let frozen: Tracker | undefined;
  try {
    const put = await bftmr(home, 'dfs', 'put', file, '/data/f', '--replication', '3', '--block-mb', '0.25');
    t.is(put.code, 0, put.stderr);
    const before = await json<Stat>(bftmr(home, 'dfs', 'stat', '/data/f', '--json'));
    const trackers = (await json<{ trackers: Tracker[] }>(bftmr(home, 'cluster', 'status', '--json'))).trackers;
    // The node with the most copies: most blocks name it.
    const held = (id: string) => before.blocks.filter((b) => b.replicas.some((r) => r.tracker_id === id)).length;
    frozen = trackers.reduce((a, b) => (held(b.id) > held(a.id) ? b : a));
    t.true(held(frozen.id) > 0);
    process.kill(frozen.pid, 'SIGSTOP');

    for (const args of [[], ['--no-short-circuit']]) {
      const copy = path.join(out, `f${args.length}`);
      const get = await bftmr(home, 'dfs', 'get', ...args, '/data/f', copy);
      t.is(get.code, 0, get.stderr);
      t.true(fs.readFileSync(copy).equals(bytes), `dfs get ${args.join(' ')}: the file's bytes`);
    }

    // Other bytes (blocks are shared by content: the same file's would have their old copies).
    const other = path.join(out, 'other.txt');
    const otherBytes = Buffer.concat([Buffer.from('another file\n'), bytes]);
    fs.writeFileSync(other, otherBytes);
    const put2 = await bftmr(home, 'dfs', 'put', other, '/data/g', '--replication', '3', '--block-mb', '0.25');
    t.is(put2.code, 0, put2.stderr);
    const after = await json<Stat>(bftmr(home, 'dfs', 'stat', '/data/g', '--json'));
    t.true(after.blocks.every((b) => b.replicas.length === 3 && b.replicas.every((r) => r.tracker_id !== frozen!.id)),
      'every copy of the new file is on a node that answers');
    const copy = path.join(out, 'g');
    t.is((await bftmr(home, 'dfs', 'get', '/data/g', copy)).code, 0);
    t.true(fs.readFileSync(copy).equals(otherBytes));
  } finally {
    if (frozen) process.kill(frozen.pid, 'SIGCONT');
    await bftmr(home, 'cluster', 'stop');
  }
});

/** `bftmr` with `args` as a process of its own (its pid is the caller's to signal); resolves with its exit code and output. */
function started(home: string, ...args: string[]): { pid: number; done: Promise<{ code: number | null; stderr: string }> } {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/bftmr.js'), ...args], { cwd: ROOT, env: { ...process.env, BFTMR_HOME: home }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  return { pid: child.pid!, done: new Promise((resolve) => child.on('exit', (code) => resolve({ code, stderr }))) };
}

test.serial('a put that needs every node waits out a node frozen for a while, and goes on after its own process was stopped for a while; a node gone for good is named once', async (t) => {
  const home = tempDir('bftmr-frozen-');
  const out = tempDir('bftmr-frozen-out-');
  const start = await bftmr(home, 'cluster', 'start', '--trackers', '3', '--slots', '1', '--expiry-ms', '600000', '--dfs-audit-ms', '0');
  t.is(start.code, 0, start.stderr);
  const trackers = (await json<{ trackers: Tracker[] }>(bftmr(home, 'cluster', 'status', '--json'))).trackers;
  const file = path.join(out, 'in.txt');
  const bytes = Buffer.concat([fs.readFileSync(corpus()), fs.readFileSync(corpus()).reverse()]);
  fs.writeFileSync(file, bytes);
  let frozen: number | undefined;
  try {
    // Replication 3 on 3 nodes: no other node can take the frozen one's copies; it thaws after 15 s.
    frozen = trackers[1]!.pid;
    process.kill(frozen, 'SIGSTOP');
    const put = started(home, 'dfs', 'put', file, '/data/a', '--replication', '3', '--block-mb', '0.5');
    await new Promise((r) => setTimeout(r, 15_000));
    process.kill(frozen, 'SIGCONT');
    frozen = undefined;
    const a = await put.done;
    t.is(a.code, 0, a.stderr);

    // The client itself stopped (Ctrl-Z) for 15 s in the middle of a put (of 256 MB, seconds long,
    // its uploads waiting on the nodes): it does not take that for the nodes' silence.
    const big = path.join(out, 'big');
    const fd = fs.openSync(big, 'w');
    for (let i = 0; i < 32; i++) fs.writeSync(fd, randomBytes(8 << 20));
    fs.closeSync(fd);
    // Stopped once its first block is stored: in its uploads, not in its start-up's calls to the job tracker.
    const stored = async () => trackers.reduce((n, x) => n + blockFiles(path.join(home, x.id)).size, 0);
    const before = await stored();
    const put2 = started(home, 'dfs', 'put', big, '/data/b', '--replication', '3');
    await until('the put to store its first block', stored, (n) => n > before, 60_000);
    process.kill(put2.pid, 'SIGSTOP');
    await new Promise((r) => setTimeout(r, 15_000));
    process.kill(put2.pid, 'SIGCONT');
    const b = await put2.done;
    t.is(b.code, 0, b.stderr);

    for (const [name, local] of [['a', file], ['b', big]] as const) {
      const copy = path.join(out, name);
      t.is((await bftmr(home, 'dfs', 'get', `/data/${name}`, copy)).code, 0);
      t.true(fs.readFileSync(copy).equals(fs.readFileSync(local)), `/data/${name}: the file's bytes`);
      const st = await json<Stat>(bftmr(home, 'dfs', 'stat', `/data/${name}`, '--json'));
      t.true(st.blocks.every((x) => new Set(x.replicas.map((r) => r.tracker_id)).size === 3), `/data/${name}: 3 copies of every block`);
    }

    // A node gone for good (the job tracker has not noticed yet): the put fails once it was tried
    // again, and names it once, with its reason.
    const gone = trackers[2]!;
    process.kill(gone.pid, 'SIGKILL');
    const failed = await bftmr(home, 'dfs', 'put', file, '/data/c', '--replication', '3', '--block-mb', '0.5');
    t.is(failed.code, 1);
    t.regex(failed.stderr, new RegExp(`^bftmr: no node is left to keep a verified copy of block \\d+ of /data/c \\(refused by ${gone.id}: cannot reach [^;]*; 2 of 3 copies are placed\\)\n$`));
    t.is(failed.stderr.split(gone.id).length, 2, 'named once');
  } finally {
    if (frozen) process.kill(frozen, 'SIGCONT');
    await bftmr(home, 'cluster', 'stop');
  }
});
