/**
 * Balancing the dfs on real processes (HDFS's balancer): a tracker that joins an older cluster
 * holds nothing until `bftmr dfs balance` moves copies to it, each made and verified before the
 * fuller tracker's goes, so no file is short of a copy at any time and every byte reads back.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { bftmr, blockFiles, corpus, joinTracker, json, tempDir, until } from './helpers/cli.ts';

interface Tracker { id: string; alive: boolean; blocks: number; stored_bytes: number }
interface Balance { active: boolean; outcome: string; moved_blocks: number; moved_bytes: number; spread_bytes: number; allowed_bytes: number; trackers: number }

test('a tracker that joins late gets its share of the copies from dfs balance, and every file still reads back whole', async (t) => {
  const home = tempDir('bftmr-balance-');
  const text = corpus();
  t.is((await bftmr(home, 'cluster', 'start', '--trackers', '3', '--slots', '1')).code, 0);
  let joined: Awaited<ReturnType<typeof joinTracker>> | undefined;
  try {
    // 1.6 MB in 0.125 MB blocks: two files, replication 2 and 1.
    t.is((await bftmr(home, 'dfs', 'put', text, '/two.txt', '--block-mb', '0.125', '--replication', '2')).code, 0);
    const other = path.join(tempDir('bftmr-balance-in-'), 'one.txt');
    fs.writeFileSync(other, fs.readFileSync(text).subarray(777));
    t.is((await bftmr(home, 'dfs', 'put', other, '/one.txt', '--block-mb', '0.125', '--replication', '1')).code, 0);
    const none = await json<Balance>(bftmr(home, 'dfs', 'balance', '--status', '--json'));
    t.like(none, { active: false, outcome: '', moved_blocks: 0, trackers: 3 });

    joined = await joinTracker(home, 'tracker-new', '--slots', '1');
    const status = () => json<{ trackers: Tracker[] }>(bftmr(home, 'cluster', 'status', '--json')).then((s) => s.trackers);
    const before = await until('four live trackers', status, (ts) => ts.filter((x) => x.alive).length === 4);
    t.like(before.find((x) => x.id === 'tracker-new'), { blocks: 0, stored_bytes: 0 });
    const total = before.reduce((n, x) => n + x.stored_bytes, 0);

    const r = await bftmr(home, 'dfs', 'balance', '--threshold', '10', '--json');
    t.is(r.code, 0, r.stderr);
    const done = JSON.parse(r.stdout) as Balance;
    t.false(done.active);
    t.regex(done.outcome, /^(balanced|as balanced as its blocks allow)/);
    t.true(done.moved_blocks > 0);
    const after = await status();
    t.is(after.reduce((n, x) => n + x.stored_bytes, 0), total, 'as many bytes are held as before: each move\'s old copy went');
    const mine = after.find((x) => x.id === 'tracker-new')!;
    t.true(mine.stored_bytes > 0, 'the new tracker holds copies');
    const bytes = after.map((x) => x.stored_bytes);
    // Blocks are 128 KB: the fullest and emptiest can always be brought within two blocks of each other.
    t.true(Math.max(...bytes) - Math.min(...bytes) <= Math.max(done.allowed_bytes, 2 * 131072), `spread ${bytes.join(', ')}`);

    const fsck = await bftmr(home, 'dfs', 'fsck');
    t.is(fsck.code, 0, fsck.stdout);
    for (const [p, local, replication] of [['/two.txt', text, 2], ['/one.txt', other, 1]] as const) {
      const st = await json<{ blocks: { replicas: { tracker_id: string; state: string }[] }[] }>(bftmr(home, 'dfs', 'stat', p, '--json'));
      for (const b of st.blocks) t.is(b.replicas.filter((x) => x.state === 'live').length, replication, p);
      const back = path.join(tempDir('bftmr-balance-get-'), 'f');
      t.is((await bftmr(home, 'dfs', 'get', p, back)).code, 0);
      t.true(fs.readFileSync(back).equals(fs.readFileSync(local)), p);
    }
    // The copies listed on the new tracker are on its disk.
    t.is(blockFiles(path.join(home, 'tracker-new')).size, mine.blocks);
    const again = await json<Balance>(bftmr(home, 'dfs', 'balance', '--status', '--json'));
    t.like(again, { active: false, moved_blocks: done.moved_blocks });
    t.regex((await bftmr(home, 'dfs', 'balance', '--threshold', 'x')).stderr, /'x' is not a percentage/);
  } finally {
    joined?.kill('SIGKILL');
    await bftmr(home, 'cluster', 'stop');
  }
});
