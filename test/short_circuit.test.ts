/**
 * Short-circuit reads (dfs/short_circuit.ts) on real processes: a client on the storage nodes'
 * host reads their block files itself; a node that lies to readers names no file, so its lie is
 * still met (and reported) on the network; a block file whose bytes went bad is that replica's
 * failure, reported like bad served bytes, and the read goes on to another replica.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { DfsClient } from '../dfs/client.ts';
import { Peers } from '../dfs/peers.ts';
import { findCluster } from '../cli/cluster_launcher.ts';
import type { LocateBlockReply, LocateBlockRequest } from '../lib/messages.ts';
import { bftmr, corpus, joinTracker, json, tempDir, until } from './helpers/cli.ts';

interface Tracker { id: string; address: string; alive: boolean; fault: string | null; verdicts: string[] }

test.serial('a client on the storage nodes\' host reads their block files, checked as served bytes; a liar keeps it on the network; a bad file is a bad replica', async (t) => {
  const home = tempDir('bftmr-short-circuit-');
  const file = corpus();
  const bytes = fs.readFileSync(file);
  // No audits: whatever names a tracker here is a reader's report.
  const start = await bftmr(home, 'cluster', 'start', '--trackers', '2', '--slots', '1', '--dfs-audit-ms', '0');
  t.is(start.code, 0, start.stderr);
  const peers = new Peers();
  let dfs: DfsClient | undefined;
  // The liar joins after the put and gets its copies from repairs, pulling them from honest nodes:
  // a put's pullers would have caught it as a source, and the readers are the point here.
  let liarProcess: Awaited<ReturnType<typeof joinTracker>> | undefined;
  try {
    // Many small blocks, each on both nodes, then on the liar too (a serve-corrupt node passes challenges).
    const put = await bftmr(home, 'dfs', 'put', file, '/data/f', '--replication', '2', '--block-mb', '0.0625');
    t.is(put.code, 0, put.stderr);
    liarProcess = await joinTracker(home, 'tracker-liar', '--slots', '1', '--fault', 'serve-corrupt');
    const status = () => json<{ trackers: Tracker[] }>(bftmr(home, 'cluster', 'status', '--json')).then((s) => s.trackers);
    const trackers = await until('three live trackers', status, (ts) => ts.filter((x) => x.alive).length === 3);
    const setrep = await bftmr(home, 'dfs', 'setrep', '3', '/data/f', '--wait');
    t.is(setrep.code, 0, setrep.stderr);
    const liar = trackers.find((x) => x.fault === 'serve-corrupt')!;
    const [honestA, honestB] = trackers.filter((x) => !x.fault) as [Tracker, Tracker];
    const address = (await findCluster(home)).jobTracker.address; // also takes the home's client certificate
    const getWith = async (client: DfsClient, name: string) => {
      const out = path.join(tempDir('bftmr-short-circuit-get-'), name);
      await client.get('/data/f', out);
      return fs.readFileSync(out);
    };

    dfs = new DfsClient(address);
    const info = await dfs.stat('/data/f');
    const n = info.blocks.length;
    t.true(n > 20);
    t.true(info.blocks.every((b) => b.replicas.length === 3));
    // The honest nodes name their files; the liar names none. (Asked before any read: a reader
    // that meets the liar's bytes reports them, and the job tracker then has its copy deleted.)
    const block0 = info.blocks[0]!;
    const locate = (x: Tracker) => peers.get(x.address).call<LocateBlockRequest, LocateBlockReply>('LocateBlock', { digest: block0.digest }, 10_000);
    for (const x of [honestA, honestB]) {
      const where = await locate(x);
      t.is(where.path, path.join(home, x.id, 'store', 'blocks', block0.digest.slice(0, 2), block0.digest));
      t.is(where.size, block0.size);
    }
    t.deepEqual(await locate(liar), { path: '', size: block0.size });

    t.true((await getWith(dfs, 'direct')).equals(bytes));
    t.deepEqual(dfs.reads, { blocks: n, local: n }, 'every block came from a file on this host');

    // Asked not to, the client reads every block through a node.
    const networked = new DfsClient(address, { shortCircuit: false });
    try {
      t.true((await getWith(networked, 'networked')).equals(bytes));
      t.deepEqual(networked.reads, { blocks: n, local: 0 });
    } finally {
      networked.close();
    }
    // The liar lied to some of those readers (each tries a block's replicas in random order), and only it is named.
    const named = await until('the liar to be named by a reader', status, (ts) => ts.find((x) => x.id === liar.id)!.verdicts.length > 0);
    for (const v of named.find((x) => x.id === liar.id)!.verdicts) t.regex(v, /^served bytes of block [0-9a-f]{12} that do not match its digest \(reported by a reader of \/data\/f\)$/);
    for (const x of [honestA, honestB]) t.deepEqual(named.find((y) => y.id === x.id)!.verdicts, []);

    // Bit rot in the file of block 0 on an honest node: a read that tries it goes on to another
    // file, and the rotten copy is reported, checked by the job tracker, and dropped from the
    // block's replicas. (Readers try it first on half their reads: a few reads meet it.)
    const rotten = path.join(home, honestA.id, 'store', 'blocks', block0.digest.slice(0, 2), block0.digest);
    const fd = fs.openSync(rotten, 'r+');
    fs.writeSync(fd, Buffer.from([fs.readFileSync(rotten)[10]! ^ 0x20]), 0, 1, 10);
    fs.closeSync(fd);
    const listed = async () => (await dfs!.stat('/data/f')).blocks[0]!.replicas.some((r) => r.tracker_id === honestA.id);
    for (let i = 0; i < 30 && (await listed()); i++) {
      const again = new DfsClient(address);
      try {
        t.true((await getWith(again, `again-${i}`)).equals(bytes));
        t.deepEqual(again.reads, { blocks: n, local: n });
      } finally {
        again.close();
      }
    }
    await until('the rotten copy to be dropped', listed, (held) => !held);
  } finally {
    dfs?.close();
    peers.close();
    await bftmr(home, 'cluster', 'stop');
    liarProcess?.kill('SIGKILL');
  }
});
