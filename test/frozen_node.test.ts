/**
 * A storage node that freezes (SIGSTOP: its sockets stay open, nothing answers) while the job
 * tracker still counts it live: reads go past it, a put places its copies on the other nodes, and
 * each command exits when its work is done, instead of waiting out a ten-minute transfer deadline
 * or a connection that never finishes its handshake.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { bftmr, corpus, json, tempDir } from './helpers/cli.ts';

interface Tracker { id: string; pid: number }
interface Stat { blocks: { replicas: { tracker_id: string }[] }[] }

test('with a frozen storage node, dfs get (short-circuit or not) and dfs put finish with the right bytes, and exit', async (t) => {
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
