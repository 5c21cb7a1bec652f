/**
 * The dfs on real processes while storage nodes lie and die: one tracker serves altered bytes
 * (corrupt-blocks), one loses what it stores but keeps claiming it (drop-blocks), one honest one is
 * SIGKILLed part-way through the puts. The liars fail the writer's checks, so no put keeps a copy
 * on them; they get copies only from repairs, where the job tracker's audits catch them (and one
 * verdict blacklists a tracker here). Every file reads back byte-identical throughout; the
 * liars, and only they, are proven faulty by the job tracker's own audits; repairs bring every
 * block back to three live verified copies, none on the dead or proven-faulty nodes, and fsck
 * says so; the blocks of a deleted file are collected on every live node.
 *
 * Six trackers, not five: once both liars are caught (and blacklisted) and one node is dead, three
 * honest ones must remain for replication 3 to be reachable at all.
 */
import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { bftmr, blockFiles, corpus, joinTracker, json, tempDir, until } from './helpers/cli.ts';

// Small blocks: many repairs after the kill, so each liar is sure to get copies to be caught on.
const BLOCK_MB = '0.0625';

interface Tracker { id: string; pid: number; alive: boolean; fault: string | null; blacklisted: boolean; verdicts: string[]; blocks: number; stored_bytes: number }
interface Replica { tracker_id: string; state: string }
interface Stat { blocks: { digest: string; size: number; replicas: Replica[] }[] }

/**
 * Runs `body` on a cluster of `n` trackers, one of them `corrupt-blocks` (`:late` with `late`),
 * and one more, `drop-blocks` alike, that joins as a daemon on another host would (the launcher
 * gives one fault mode); `args` go to `cluster start`. The cluster is stopped after, come what may.
 */
async function withLiars(t: ExecutionContext, home: string, n: number, late: boolean, args: string[],
  body: (c: { status: () => Promise<Tracker[]>; trackers: Tracker[]; corrupt: string; drop: string }) => Promise<void>): Promise<void> {
  const mode = (m: string) => `${m}${late ? ':late' : ''}`;
  const start = await bftmr(home, 'cluster', 'start', '--trackers', String(n), '--slots', '1', '--faulty', '1', '--fault', mode('corrupt-blocks'), ...args);
  t.is(start.code, 0, start.stderr);
  const dropper = await joinTracker(home, 'tracker-drop', '--slots', '1', '--fault', mode('drop-blocks'));
  const status = () => json<{ trackers: Tracker[] }>(bftmr(home, 'cluster', 'status', '--json')).then((s) => s.trackers);
  try {
    const trackers = await until(`${n + 1} live trackers`, status, (ts) => ts.filter((x) => x.alive).length === n + 1);
    const id = (fault: string) => trackers.find((x) => x.fault === fault)!.id;
    await body({ status, trackers, corrupt: id(mode('corrupt-blocks')), drop: id(mode('drop-blocks')) });
  } finally {
    await bftmr(home, 'cluster', 'stop');
    dropper.kill('SIGKILL');
  }
}

test.serial('every file survives a corrupting, a dropping and a killed storage node, and repair restores three verified copies', async (t) => {
  const home = tempDir('bftmr-chaos-');
  const scratch = tempDir('bftmr-chaos-files-');
  // Real text, cut into files that share no block: the whole corpus and two slices of it.
  const text = fs.readFileSync(corpus());
  const files: Record<string, Buffer> = {
    '/data/jargon.txt': text,
    '/data/slice-a.txt': text.subarray(100_003, 1_300_000),
    '/data/slice-b.txt': text.subarray(777_777),
  };
  const doomed = { path: '/tmp/doomed.txt', bytes: text.subarray(50_001, 450_000) };
  for (const [p, bytes] of [...Object.entries(files), [doomed.path, doomed.bytes] as const]) {
    fs.writeFileSync(path.join(scratch, path.basename(p)), bytes);
  }
  const local = (p: string) => path.join(scratch, path.basename(p));

  await withLiars(t, home, 5, false, ['--expiry-ms', '3000', '--dfs-audit-ms', '200', '--blacklist-after', '0'], async ({ status, trackers, corrupt, drop }) => {
    const honest = trackers.filter((x) => !x.fault);
    const victim = honest[0]!;
    const dirOf = new Map<string, string>();
    // A tracker's id is the name in its certificate: the launcher names them after their directories.
    for (let i = 0; i < 5; i++) dirOf.set(`tracker-${i}`, path.join(home, `tracker-${i}`));
    dirOf.set(drop, path.join(home, 'tracker-drop'));

    const put = async (p: string) => {
      const r = await bftmr(home, 'dfs', 'put', local(p), p, '--replication', '3', '--block-mb', BLOCK_MB);
      t.is(r.code, 0, `put ${p}: ${r.stderr}`);
    };
    const readBack = async (when: string) => {
      for (const [p, bytes] of Object.entries(files)) {
        const out = path.join(tempDir('bftmr-chaos-get-'), 'f');
        const r = await bftmr(home, 'dfs', 'get', p, out);
        t.is(r.code, 0, `get ${p} ${when}: ${r.stderr}`);
        t.true(fs.readFileSync(out).equals(bytes), `${p} reads back byte-identical ${when}`);
      }
    };

    await put('/data/jargon.txt');
    await put(doomed.path);
    // One honest node dies part-way: the next puts may be allocated to it before it is declared dead.
    process.kill(victim.pid, 'SIGKILL');
    await put('/data/slice-a.txt');
    await put('/data/slice-b.txt');
    await readBack('right after the kill');

    const kept = new Set<string>();
    for (const p of Object.keys(files)) for (const b of (await json<Stat>(bftmr(home, 'dfs', 'stat', p, '--json'))).blocks) kept.add(b.digest);
    // Blocks are named by content: only those no kept file shares may go.
    const unique = (await json<Stat>(bftmr(home, 'dfs', 'stat', doomed.path, '--json'))).blocks.map((b) => b.digest).filter((d) => !kept.has(d));
    t.true(unique.length > 0);
    const rm = await bftmr(home, 'dfs', 'rm', doomed.path);
    t.is(rm.code, 0, rm.stderr);

    // Liveness: the dead node is declared dead, both liars are caught often enough to be
    // blacklisted, and repair catches up until fsck is happy.
    await until('the liars blacklisted and the dead node declared dead', status,
      (ts) => ts.some((x) => x.id === victim.id && !x.alive) && [corrupt, drop].every((id) => ts.find((x) => x.id === id)!.blacklisted));
    await until('fsck to exit 0', () => bftmr(home, 'dfs', 'fsck'), (r) => r.code === 0);

    const fsck = await json<{ healthy: boolean; summary: { blocks: number; healthy: number }; files: { path: string; blocks: { live: string[]; state: string }[] }[] }>(
      bftmr(home, 'dfs', 'fsck', '/', '--json'));
    t.true(fsck.healthy);
    t.deepEqual(fsck.files.map((f) => f.path).sort(), Object.keys(files).sort());
    t.true(fsck.summary.blocks >= 30, `many blocks (${fsck.summary.blocks})`);

    const untrusted = new Set([victim.id, corrupt, drop]);
    const listedOn = new Map<string, Map<string, number>>(); // tracker -> listed block -> size
    for (const p of Object.keys(files)) {
      const st = await json<Stat>(bftmr(home, 'dfs', 'stat', p, '--json'));
      for (const b of st.blocks) for (const r of b.replicas) listedOn.set(r.tracker_id, (listedOn.get(r.tracker_id) ?? new Map()).set(b.digest, b.size));
      for (const [i, b] of st.blocks.entries()) {
        const live = b.replicas.filter((r) => r.state === 'live').map((r) => r.tracker_id);
        t.is(new Set(live).size, live.length);
        t.true(live.length >= 3, `${p} block ${i}: ${live.length} live replicas`);
        t.false(live.some((id) => untrusted.has(id)), `${p} block ${i}: a live replica on an untrusted node`);
        t.false(b.replicas.some((r) => r.tracker_id === victim.id), `${p} block ${i} still lists the killed node`);
      }
    }

    // Only the liars are named, each for what it did.
    const final = await status();
    // cluster status counts what each tracker holds as the namespace lists it (dfsadmin -report).
    for (const x of final.filter((y) => !untrusted.has(y.id))) {
      const mine = listedOn.get(x.id) ?? new Map<string, number>();
      t.deepEqual([x.blocks, x.stored_bytes], [mine.size, [...mine.values()].reduce((a, n) => a + n, 0)], x.id);
    }
    t.is(final.find((x) => x.id === victim.id)!.blocks, 0);
    for (const x of final) {
      if (x.id === corrupt) for (const v of x.verdicts) t.regex(v, /^served bytes of block [0-9a-f]{12} that do not match its digest/);
      else if (x.id === drop) for (const v of x.verdicts) t.regex(v, /^lost block [0-9a-f]{12} it claimed/);
      else t.deepEqual(x.verdicts, [], `${x.id} is honest`);
    }

    // The deleted file's blocks are gone from every node still running.
    await until('the deleted file\'s blocks to be collected', async () => {
      const left: string[] = [];
      for (const [id, dir] of dirOf) {
        if (id === victim.id) continue;
        const held = blockFiles(dir);
        for (const d of unique) if (held.has(d)) left.push(`${id}:${d.slice(0, 8)}`);
      }
      return left;
    }, (left) => left.length === 0);

    await readBack('after repair');
  });
});

/** Who may have caught a liar of /data/f: a reader, a node pulling a put's copy, a repair's puller. */
const ACCUSER = String.raw`(reported by a reader of /data/f|reported by a writer of /data/f, for tracker-[\w-]+ pulling a copy|accused by tracker-[\w-]+ during a repair)`;

/**
 * A put alone (routine audits off, no reads): each block's first copy is uploaded and proven, and
 * the other nodes pull theirs from it. A `:late` liar holding a first copy passes its challenge and
 * then serves the pullers altered bytes or none; each puller tells the writer, the writer tells the
 * job tracker once the file lists the copy, and the job tracker's own check names the liar.
 */
test.serial('nodes pulling a put\'s copies get a source that lied to them named', async (t) => {
  const home = tempDir('bftmr-pullreport-');
  await withLiars(t, home, 4, true, ['--dfs-audit-ms', '0'], async ({ status, corrupt, drop }) => {
    // 52 blocks, each first copy on one of five nodes: each liar holds a first copy of about ten
    // (none at all has odds of (4/5)^52, under one in a hundred thousand).
    const put = await bftmr(home, 'dfs', 'put', corpus(), '/data/f', '--replication', '3', '--block-mb', '0.03125');
    t.is(put.code, 0, put.stderr);
    const named = await until('both liars to be named', status, (ts) => [corrupt, drop].every((id) => ts.find((x) => x.id === id)!.verdicts.length > 0));
    const pulled = (x: Tracker) => x.verdicts.some((v) => /\(reported by a writer of \/data\/f, for tracker-[\w-]+ pulling a copy\)$/.test(v));
    for (const x of named) {
      if (x.id === corrupt) {
        t.true(pulled(x), x.verdicts.join('; '));
        for (const v of x.verdicts) t.regex(v, new RegExp(`^served bytes of block [0-9a-f]{12} that do not match its digest \\(${ACCUSER}\\)$`));
      } else if (x.id === drop) {
        t.true(pulled(x), x.verdicts.join('; '));
        for (const v of x.verdicts) t.regex(v, new RegExp(`^lost block [0-9a-f]{12} it claimed \\(${ACCUSER}\\)$`));
      } else t.deepEqual(x.verdicts, [], `${x.id} is honest`);
    }
  });
});

/**
 * Read repair alone (routine audits off): four nodes hold every block of a file, one corrupting
 * and one dropping, both `:late` (they pass the writer's check, then lie). A reader that meets
 * either reads on from another replica, reports it, and the job tracker's own check of the report
 * is what names the node. (The nodes pulling the put's copies from a liar catch it too: the liars
 * are not blacklisted here, so readers meet them after that.) With the honest nodes gone, a read
 * fails with one line naming the file and block, and writes no wrong byte.
 */
test.serial('a reader\'s reports get liars named; with no verified copy left a read fails clearly and writes nothing wrong', async (t) => {
  const home = tempDir('bftmr-readrepair-');
  const file = corpus();
  const bytes = fs.readFileSync(file);
  await withLiars(t, home, 3, true, ['--dfs-audit-ms', '0', '--blacklist-after', '1000000'], async ({ status, trackers, corrupt, drop }) => {
    const honest = trackers.filter((x) => !x.fault);
    // Many small blocks, each on all four nodes: a reader meets each liar first on about a
    // quarter of them (it missing all 52 has odds under one in a million).
    const put = await bftmr(home, 'dfs', 'put', file, '/data/f', '--replication', '4', '--block-mb', '0.03125');
    t.is(put.code, 0, put.stderr);
    const out = path.join(tempDir('bftmr-readrepair-get-'), 'f');
    const get = await bftmr(home, 'dfs', 'get', '/data/f', out);
    t.is(get.code, 0, get.stderr);
    t.true(fs.readFileSync(out).equals(bytes));

    const byReader = (x: Tracker) => x.verdicts.some((v) => v.endsWith('(reported by a reader of /data/f)'));
    const named = await until('a reader to name both liars', status, (ts) => [corrupt, drop].every((id) => byReader(ts.find((x) => x.id === id)!)));
    for (const x of named) {
      if (x.id === corrupt) for (const v of x.verdicts) t.regex(v, new RegExp(`^served bytes of block [0-9a-f]{12} that do not match its digest \\(${ACCUSER}\\)$`));
      else if (x.id === drop) for (const v of x.verdicts) t.regex(v, new RegExp(`^lost block [0-9a-f]{12} it claimed \\(${ACCUSER}\\)$`));
      else t.deepEqual(x.verdicts, []);
    }
    // The caught copies are gone and cannot be made again (no fifth node): fsck says so, exit 1.
    const fsck = await bftmr(home, 'dfs', 'fsck', '/data', '--json');
    t.is(fsck.code, 1, fsck.stderr);
    const report = JSON.parse(fsck.stdout);
    t.false(report.healthy);
    // As in HDFS, not CORRUPT: a good copy is left of every block.
    t.true(report.files[0].blocks.some((b: { state: string; bad: string[] }) => b.state === 'UNDER_REPLICATED' && b.bad.includes(corrupt)));
    t.false(report.files[0].blocks.some((b: { state: string }) => b.state === 'CORRUPT' || b.state === 'MISSING'));
    const text = await bftmr(home, 'dfs', 'fsck', '/data');
    t.is(text.code, 1);
    t.regex(text.stdout, new RegExp(`block \\d+ \\([0-9a-f]{12}\\) UNDER_REPLICATED: [1-3] of 4 live verified replicas \\(.+\\), bad on [^\\n]*${corrupt}`));
    t.regex(text.stdout, /^NOT HEALTHY: 1 file, 52 blocks/m);

    // Only the liars are left.
    for (const x of honest) process.kill(x.pid, 'SIGKILL');
    const lost = path.join(tempDir('bftmr-readrepair-lost-'), 'f');
    const failed = await bftmr(home, 'dfs', 'get', '/data/f', lost);
    t.not(failed.code, 0);
    const lines = failed.stderr.trim().split('\n');
    t.is(lines.length, 1, failed.stderr);
    t.regex(lines[0]!, /^bftmr: \/data\/f, block 0 \([0-9a-f]{12}\): /);
    t.deepEqual(fs.readdirSync(path.dirname(lost)), [], 'nothing half-written is left');
    const cat = await bftmr(home, 'dfs', 'cat', '/data/f');
    t.not(cat.code, 0);
    t.is(cat.stdout, '', 'not one unverified byte is written');
  });
});
