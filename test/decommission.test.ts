/**
 * Decommissioning a storage node on real processes (HDFS's dfsadmin -refreshNodes): its copies
 * are made elsewhere, from it too, before the operator stops it, so no file is ever short of a copy.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { bftmr, corpus, json, normalisedOutput, tempDir, until, wordCountOracle } from './helpers/cli.ts';

interface Tracker { id: string; pid: number; alive: boolean; blocks: number; decommissioning: boolean; decommission_left?: number }

test('a decommissioned tracker hands over every copy, the only ones included, and can then be stopped without a file losing one', async (t) => {
  const home = tempDir('bftmr-decom-');
  const text = corpus();
  // A short lease: for a lease after it starts, a job tracker lets no tracker stop (a write may not have renewed yet).
  t.is((await bftmr(home, 'cluster', 'start', '--trackers', '4', '--slots', '1', '--write-lease-ms', '3000')).code, 0);
  try {
    t.is((await bftmr(home, 'dfs', 'put', text, '/in/jargon.txt', '--block-mb', '0.25')).code, 0);
    // Bytes no block of the other file shares (a shared block wants the most copies any of its files wants).
    const single = path.join(tempDir('bftmr-decom-in-'), 'single.txt');
    fs.writeFileSync(single, fs.readFileSync(text).subarray(1000));
    t.is((await bftmr(home, 'dfs', 'put', single, '/single.txt', '--block-mb', '0.5', '--replication', '1')).code, 0);
    const status = () => json<{ trackers: Tracker[] }>(bftmr(home, 'cluster', 'status', '--json')).then((s) => s.trackers);
    // The tracker with the most copies leaves.
    const leaving = (await status()).sort((a, b) => b.blocks - a.blocks)[0]!;
    t.true(leaving.blocks > 0);
    const wait = await bftmr(home, 'cluster', 'decommission', leaving.id, '--wait');
    t.is(wait.code, 0, wait.stderr);
    t.is(wait.stdout, `${leaving.id} is being decommissioned\n${leaving.id} is decommissioned: it may be stopped\n`);
    t.like((await status()).find((x) => x.id === leaving.id), { decommissioning: true, decommission_left: 0 });
    t.regex((await bftmr(home, 'cluster', 'status')).stdout, new RegExp(`${leaving.id} .* alive DECOMMISSIONED \\(may be stopped\\)`));
    process.kill(leaving.pid, 'SIGTERM');
    await until('it to be gone', status, (ts) => !ts.find((x) => x.id === leaving.id)!.alive, 60_000);
    // Nothing is short, and nothing was lost: every block of both files has its copies on the others.
    const fsck = await bftmr(home, 'dfs', 'fsck');
    t.is(fsck.code, 0, fsck.stdout);
    for (const [p, local, replication] of [['/in/jargon.txt', text, 3], ['/single.txt', single, 1]] as const) {
      const st = await json<{ blocks: { replicas: { tracker_id: string; state: string }[] }[] }>(bftmr(home, 'dfs', 'stat', p, '--json'));
      for (const b of st.blocks) t.is(b.replicas.filter((r) => r.state === 'live' && r.tracker_id !== leaving.id).length, replication, p);
      const back = path.join(tempDir('bftmr-decom-get-'), 'f');
      t.is((await bftmr(home, 'dfs', 'get', p, back)).code, 0);
      t.true(fs.readFileSync(back).equals(fs.readFileSync(local)), p);
    }
    // The three left run an f=1 job.
    const job = await bftmr(home, 'job', 'submit', 'jobs/word_count.ts', '--input', '/in', '--output', '/out', '--split-mb', '0.25', '--json');
    t.is(job.code, 0, job.stderr);
    const out = path.join(tempDir('bftmr-decom-out-'), 'o');
    t.is((await bftmr(home, 'dfs', 'get', '/out', out)).code, 0);
    t.is(normalisedOutput(out), wordCountOracle(text));
    t.regex((await bftmr(home, 'cluster', 'decommission', 'tracker-9')).stderr, /^bftmr: no task tracker tracker-9\n/);
  } finally {
    await bftmr(home, 'cluster', 'stop');
  }
});
