/**
 * Blocks of writes that never finished, on real processes: a put holds a lease while it runs, so
 * its blocks survive the periodic block reports however long it takes; a put whose client is
 * killed leaves blocks no file lists, and the reports get them deleted once its lease lapses; a
 * put whose client is cut off for over a lease fails when it wakes, rather than create a file
 * whose blocks may be gone.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { bftmr, blockFiles, json, ROOT, tempDir, until } from './helpers/cli.ts';

interface Stat { blocks: { digest: string; replicas: { tracker_id: string }[] }[] }

test('a put outlives its lease many times over and keeps every block; a killed or stalled put\'s blocks are collected', async (t) => {
  const home = tempDir('bftmr-gc-');
  const scratch = tempDir('bftmr-gc-files-');
  const start = await bftmr(home, 'cluster', 'start', '--trackers', '3', '--write-lease-ms', '1000', '--block-report-ms', '300');
  t.is(start.code, 0, start.stderr);
  const dirs = [0, 1, 2].map((i) => path.join(home, `tracker-${i}`));
  const held = () => dirs.map((d) => blockFiles(d));
  try {
    // Many 1 MB blocks: the first are stored seconds before the file is created, with a block
    // report every 300 ms and a 1 s lease, so only the lease keeps them.
    const kept = path.join(scratch, 'kept.bin');
    fs.writeFileSync(kept, randomBytes(60 << 20));
    const began = Date.now();
    const put = await bftmr(home, 'dfs', 'put', kept, '/kept.bin', '--block-mb', '1');
    t.is(put.code, 0, put.stderr);
    t.log(`the put took ${Date.now() - began} ms`);
    const listed = async () => {
      const st = await json<Stat>(bftmr(home, 'dfs', 'stat', '/kept.bin', '--json'));
      return dirs.map((d, i) => new Set(st.blocks.filter((b) => b.replicas.some((r) => r.tracker_id === `tracker-${i}`)).map((b) => b.digest)));
    };
    const want = await listed();
    t.is(want.reduce((n, s) => n + s.size, 0), 60 * 3, 'three listed copies of every block');
    held().forEach((files, i) => t.true([...want[i]!].every((d) => files.has(d)), `tracker-${i} holds what it is listed for`));
    t.is((await bftmr(home, 'dfs', 'fsck', '/kept.bin')).code, 0);

    // A put killed part-way: what it stored is in no file.
    const doomed = path.join(scratch, 'doomed.bin');
    fs.writeFileSync(doomed, randomBytes(200 << 20));
    const before = held().reduce((n, s) => n + s.size, 0);
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/bftmr.js'), 'dfs', 'put', doomed, '/doomed.bin', '--block-mb', '1'],
      { env: { ...process.env, BFTMR_HOME: home }, stdio: 'ignore' });
    await until('the doomed put to store some blocks', async () => held().reduce((n, s) => n + s.size, 0), (n) => n >= before + 12, 60_000);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    t.true(held().reduce((n, s) => n + s.size, 0) > before);
    await until('the blocks of the killed put to be deleted', async () => held().map((s) => [...s].sort()),
      (now) => now.every((files, i) => files.length === want[i]!.size && files.every((d) => want[i]!.has(d))), 60_000);
    t.false((await bftmr(home, 'dfs', 'ls', '/')).stdout.includes('doomed'));

    // A put whose client is cut off (stopped) for over a lease: its blocks may have been collected
    // meanwhile, so when it wakes it fails, naming the lapse, and creates nothing.
    const stalled = spawn(process.execPath, [path.join(ROOT, 'bin/bftmr.js'), 'dfs', 'put', doomed, '/stalled.bin', '--block-mb', '1'],
      { env: { ...process.env, BFTMR_HOME: home }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    stalled.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
    const exited = new Promise<number | null>((r) => stalled.once('exit', (code) => r(code)));
    await until('the stalled put to store some blocks', async () => held().reduce((n, s) => n + s.size, 0), (n) => n >= before + 12, 60_000);
    stalled.kill('SIGSTOP');
    await new Promise((r) => setTimeout(r, 4_000)); // 4 leases, 13 block reports
    stalled.kill('SIGCONT');
    t.is(await exited, 1, stderr);
    t.regex(stderr, /^bftmr: \/stalled\.bin: the write's lease (may have )?lapsed .*write it again\n$/);
    t.false((await bftmr(home, 'dfs', 'ls', '/')).stdout.includes('stalled'));
    await until('the blocks of the stalled put to be deleted', async () => held().map((s) => [...s].sort()),
      (now) => now.every((files, i) => files.length === want[i]!.size && files.every((d) => want[i]!.has(d))), 60_000);
    const back = path.join(scratch, 'back.bin');
    t.is((await bftmr(home, 'dfs', 'get', '/kept.bin', back)).code, 0);
    t.true(fs.readFileSync(back).equals(fs.readFileSync(kept)));
  } finally {
    await bftmr(home, 'cluster', 'stop');
    fs.rmSync(scratch, { recursive: true, force: true });
  }
});
