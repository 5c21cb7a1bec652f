/**
 * Hand-over of put blocks through hard links (dfs/hand_over.ts, AdoptBlock in
 * tasktracker/block_service.ts): a client on the storage nodes' host hands each block to its first
 * node through a link named by the block's digest instead of streaming it; the node reads and
 * verifies it and keeps its own copy. What the node accepts, and what is left behind.
 */
import test from 'ava';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { DfsClient } from '../dfs/client.ts';
import { HandOverLinks } from '../dfs/hand_over.ts';
import { MemoryBlockStore } from '../dfs/memory_block_store.ts';
import { Peers } from '../dfs/peers.ts';
import { findCluster } from '../cli/cluster_launcher.ts';
import { sha256 } from '../lib/digest.ts';
import { isBftmrError } from '../lib/errors.ts';
import type * as M from '../lib/messages.ts';
import { adoptBlock, blockHandlers } from '../tasktracker/block_service.ts';
import { FileBlockStore } from '../dfs/file_block_store.ts';
import { DFS_OWNER } from '../dfs/block_store.ts';
import { parseFault, StorageLies } from '../tasktracker/faults.ts';
import { hostTag } from '../lib/scratch.ts';
import { newNonce, newProofMac } from '../lib/proof.ts';
import { bftmr, corpus, json, tempDir } from './helpers/cli.ts';

const client = { role: 'client' as const, name: 'test', address: '127.0.0.1:5000' };

test('a node takes a block handed over only from a file named by its digest, from a client on its host, with the block\'s bytes', async (t) => {
  const dir = tempDir('bftmr-adopt-');
  const bytes = randomBytes(200_000);
  const digest = sha256(bytes);
  // The block is bytes [1000, 201000) of a larger file, linked under the digest.
  const file = path.join(dir, 'local.txt');
  fs.writeFileSync(file, Buffer.concat([randomBytes(1000), bytes, randomBytes(500)]));
  fs.mkdirSync(path.join(dir, 'a'));
  const link = path.join(dir, 'a', digest);
  fs.linkSync(file, link);
  const store = new MemoryBlockStore();
  const lies = new StorageLies(parseFault(''), store);
  const req = { digest, size: bytes.length, path: link, offset: 1000 };
  const held = async () => { const all = []; for await (const b of store.list()) all.push(b.digest); return all; };
  /** What the node says it stored, at the end of what it says. */
  const adopt = async (r: M.AdoptBlockRequest, caller: typeof client, signal?: AbortSignal) => {
    let last: M.AdoptBlockProgress | undefined;
    for await (const p of adoptBlock(store, lies, r, caller, signal)) last = p;
    return last?.stored;
  };

  const refused = async (r: M.AdoptBlockRequest, code: Parameters<typeof isBftmrError>[1], caller = client) => {
    const e = await t.throwsAsync(adopt(r, caller));
    t.true(isBftmrError(e, code), `${code}: ${e?.message}`);
    t.deepEqual(await held(), []);
  };
  await refused(req, 'BAD_REQUEST', { ...client, address: 'node-on-another-host.invalid:5000' });
  await refused({ ...req, path: file }, 'BAD_REQUEST'); // not named by the digest
  await refused({ ...req, path: path.relative(process.cwd(), link) }, 'BAD_REQUEST');
  await refused({ ...req, offset: 999 }, 'DFS_DIGEST_MISMATCH'); // other bytes
  await refused({ ...req, size: bytes.length + 1 }, 'DFS_DIGEST_MISMATCH');
  fs.mkdirSync(path.join(dir, 'b'));
  fs.symlinkSync(file, path.join(dir, 'b', digest)); // no link followed
  await refused({ ...req, path: path.join(dir, 'b', digest) }, 'BAD_REQUEST');

  // A client that gave up stops the read: nothing is kept.
  const gaveUp = new AbortController();
  gaveUp.abort();
  await t.throwsAsync(adopt(req, client, gaveUp.signal), { message: /gave up/ });
  t.deepEqual(await held(), []);

  // The writer's challenge sent along is answered from the bytes read (answerOnTheWay); without one, none is.
  const nonce = newNonce();
  const mac = newProofMac(nonce);
  mac.update(bytes);
  t.deepEqual(await adopt({ ...req, nonce }, client), { digest, size: bytes.length, mac: mac.digest() });
  t.deepEqual(await held(), [digest]);
  await store.release(DFS_OWNER);
  t.deepEqual(await adopt(req, client), { digest, size: bytes.length });
  t.deepEqual(await held(), [digest]);
  const copy = [];
  for await (const c of store.read(digest, 0, 0)) copy.push(c);
  t.true(Buffer.concat(copy).equals(bytes));
});

test('a node taking a block handed over says how far it has read while it reads, then what it stored', async (t) => {
  const dir = tempDir('bftmr-adopt-progress-');
  const bytes = randomBytes(4 * 1024 * 1024);
  const digest = sha256(bytes);
  fs.writeFileSync(path.join(dir, digest), bytes);
  // A store that takes its time over each chunk, as a node with a slow disk would.
  class SlowStore extends MemoryBlockStore {
    override put(source: AsyncIterable<Uint8Array>, owner: string, expect?: string) {
      return super.put((async function* () {
        for await (const c of source) {
          await new Promise((r) => setTimeout(r, 20));
          yield c;
        }
      })(), owner, expect);
    }
  }
  const slow = new SlowStore();
  const said: M.AdoptBlockProgress[] = [];
  for await (const p of adoptBlock(slow, new StorageLies(parseFault(''), slow), { digest, size: bytes.length, path: path.join(dir, digest), offset: 0 }, client, undefined, 5)) said.push(p);
  const reads = said.map((p) => p.read);
  t.true(said.length > 2, `${said.length} messages`);
  t.deepEqual(reads, [...reads].sort((a, b) => a - b));
  t.true(reads.some((r) => r > 0 && r < bytes.length), String(reads));
  t.true(said.slice(0, -1).every((p) => !p.stored));
  t.deepEqual(said.at(-1), { read: bytes.length, stored: { digest, size: bytes.length } });
});

test('a node tells only a caller on its host where a block\'s file is', async (t) => {
  const store = await FileBlockStore.open(tempDir('bftmr-locate-'));
  const bytes = randomBytes(10_000);
  const { digest } = await store.put((async function* () { yield bytes; })(), DFS_OWNER);
  const locate = blockHandlers(store, new Peers(), parseFault('')).LocateBlock!;
  if (locate.kind !== 'unary') return t.fail(locate.kind);
  const ask = (address: string) => locate.impl({ digest }, { role: 'tasktracker', name: 'tracker-9', address }, new AbortController().signal);
  const here = await ask('127.0.0.1:5000');
  t.is(here.path, store.localPath(digest));
  t.true(fs.readFileSync(here.path).equals(bytes));
  t.deepEqual(await ask('192.0.2.7:5000'), { path: '', size: bytes.length }); // another host: read it through ReadBlock
  await store.close();
});

test('hand-over links go in the first directory that can hold them, each block\'s in its own; closing removes them; a file or node that failed is not tried again', async (t) => {
  const dir = tempDir('bftmr-links-');
  const file = path.join(dir, 'f');
  fs.writeFileSync(file, 'abc');
  const links = new HandOverLinks([path.join(dir, 'missing'), dir]);
  const a = await links.link(file, 0, 'd'.repeat(64));
  const b = await links.link(file, 1, 'd'.repeat(64)); // the same bytes twice in a file
  t.truthy(a && b);
  t.not(a!.path, b!.path);
  t.is(path.basename(a!.path), 'd'.repeat(64));
  t.is(fs.readFileSync(a!.path, 'utf8'), 'abc');
  t.is(path.dirname(path.dirname(path.dirname(a!.path))), dir);
  await a!.remove();
  t.false(fs.existsSync(a!.path));
  await links.close();
  t.deepEqual(fs.readdirSync(dir), ['f']);
  // A file no directory can link (it is gone): no link, nothing left, and the put does not try it again;
  // nor a node that refused a hand-over.
  const none = new HandOverLinks([dir]);
  t.true(none.worthTrying(path.join(dir, 'gone'), 'tracker-0'));
  t.is(await none.link(path.join(dir, 'gone'), 0, 'e'.repeat(64)), undefined);
  t.false(none.worthTrying(path.join(dir, 'gone'), 'tracker-0'));
  t.true(none.worthTrying(file, 'tracker-0'));
  none.refusedBy('tracker-0');
  t.deepEqual([none.worthTrying(file, 'tracker-0'), none.worthTrying(file, 'tracker-1')], [false, true]);
  await none.close();
  t.deepEqual(fs.readdirSync(dir), ['f']);
});

test('a put\'s directories left by a process of this host that was killed outright are removed by the next put; a live process\'s, another host\'s, and any that another user could write into stay', async (t) => {
  const dir = tempDir('bftmr-orphans-');
  const host = hostTag();
  const dead = Number(fs.readFileSync('/proc/sys/kernel/pid_max', 'utf8')) + 1; // above any pid there can be
  const left = {
    dead: `bftmr-handover-${host}-${dead}-aaaaaa`,
    live: `bftmr-handover-${host}-${process.ppid}-bbbbbb`,
    elsewhere: `bftmr-handover-${host}x-${dead}-cccccc`,
    other: `bftmr-stream-${host}-${dead}-dddddd`,
    open: `bftmr-handover-${host}-${dead}-eeeeee`, // 0755: not as mkdtemp makes them
  };
  for (const name of Object.values(left)) fs.mkdirSync(path.join(dir, name, '0'), { recursive: true, mode: 0o700 });
  fs.chmodSync(path.join(dir, left.open), 0o755);
  fs.writeFileSync(path.join(dir, left.dead, '0', 'd'.repeat(64)), 'abc');
  // A link of such a name to a directory of the user's: neither it nor what it points to goes.
  const precious = path.join(tempDir('bftmr-precious-'), 'keep');
  fs.writeFileSync(precious, 'keep');
  const planted = `bftmr-handover-${host}-${dead}-ffffff`;
  fs.symlinkSync(path.dirname(precious), path.join(dir, planted));
  const file = path.join(dir, 'f');
  fs.writeFileSync(file, 'abc');
  const links = new HandOverLinks([dir]);
  const a = await links.link(file, 0, 'd'.repeat(64));
  t.truthy(a);
  const mine = path.relative(dir, path.dirname(path.dirname(a!.path)));
  t.true(mine.startsWith(`bftmr-handover-${host}-${process.pid}-`), mine);
  const kept = [left.elsewhere, left.live, left.other, left.open, planted, 'f'];
  t.deepEqual(fs.readdirSync(dir).sort(), [...kept, mine].sort());
  t.is(fs.readFileSync(precious, 'utf8'), 'keep');
  await links.close();
  t.deepEqual(fs.readdirSync(dir).sort(), kept.sort());
});

test.serial('a put on the storage nodes\' host hands every block to its first node through a link: same bytes, every copy proven, no link left', async (t) => {
  const home = tempDir('bftmr-hand-over-');
  const file = corpus();
  const start = await bftmr(home, 'cluster', 'start', '--trackers', '3', '--slots', '1', '--dfs-audit-ms', '0');
  t.is(start.code, 0, start.stderr);
  let dfs: DfsClient | undefined;
  let upload: DfsClient | undefined;
  try {
    const address = (await findCluster(home)).jobTracker.address; // also takes the home's client certificate
    dfs = new DfsClient(address, { linkDir: home });
    const info = await dfs.put(file, '/data/f', { replication: 3, blockBytes: 256 * 1024 });
    const n = info.blocks.length;
    t.true(n > 5);
    // Every copy answered the challenge sent along with it as it took the bytes: none was read back for ProveBlock.
    t.deepEqual(dfs.writes, { blocks: n, handedOver: n, answeredOnTheWay: 3 * n, challenged: 0 });
    t.true(info.blocks.every((b) => b.replicas.length === 3));
    t.deepEqual(fs.readdirSync(home).filter((x) => x.startsWith('bftmr-handover-')), []);
    // Read back through the nodes (not their files), byte for byte.
    const out = path.join(tempDir('bftmr-hand-over-get-'), 'f');
    const get = await bftmr(home, 'dfs', 'get', '--no-short-circuit', '/data/f', out);
    t.is(get.code, 0, get.stderr);
    t.true(fs.readFileSync(out).equals(fs.readFileSync(file)));
    const fsck = await bftmr(home, 'dfs', 'fsck', '/data');
    t.is(fsck.code, 0, fsck.stdout + fsck.stderr);

    // A file named through a (relative) symbolic link is handed over too: the file itself is linked.
    const named = path.join(tempDir('bftmr-hand-over-symlink-'), 'corpus.txt');
    fs.symlinkSync(path.relative(path.dirname(named), file), named);
    const viaSymlink = new DfsClient(address, { linkDir: home });
    try {
      const again = await viaSymlink.put(named, '/data/s', { replication: 3, blockBytes: 256 * 1024 });
      // The nodes hold these bytes already (/data/f): they take nothing, so they answer the challenges after, from their copies.
      t.deepEqual(viaSymlink.writes, { blocks: again.blocks.length, handedOver: again.blocks.length, answeredOnTheWay: 0, challenged: 3 * again.blocks.length });
    } finally {
      viaSymlink.close();
    }

    // Standard input (kept in temporary files) goes the same way; with short-circuit off, nothing does.
    const piped = await dfs.putStream([fs.readFileSync(file).subarray(0, 600_000)], '/data/piped', { replication: 3, blockBytes: 256 * 1024 });
    t.is(dfs.writes.handedOver, n + piped.blocks.length);
    upload = new DfsClient(address, { shortCircuit: false, linkDir: home });
    const uploaded = await upload.put(file, '/data/g', { replication: 3, blockBytes: 256 * 1024 });
    t.deepEqual(upload.writes, { blocks: uploaded.blocks.length, handedOver: 0, answeredOnTheWay: 0, challenged: 3 * uploaded.blocks.length });
    t.deepEqual(uploaded.blocks.map((b) => b.digest), info.blocks.map((b) => b.digest));
    // New bytes uploaded: an upload sends no challenge along, so its copy is challenged after; the pulls answer theirs on the way.
    const fresh = path.join(tempDir('bftmr-hand-over-fresh-'), 'fresh');
    fs.writeFileSync(fresh, randomBytes(600_000));
    const before = { ...upload.writes };
    const freshInfo = await upload.put(fresh, '/data/fresh', { replication: 3, blockBytes: 256 * 1024 });
    const k = freshInfo.blocks.length;
    t.deepEqual(upload.writes, { blocks: before.blocks + k, handedOver: 0, answeredOnTheWay: 2 * k, challenged: before.challenged + k });
    t.true(freshInfo.blocks.every((b) => b.replicas.length === 3));

    // A node refuses a file that is not a block's: the call fails, and the node holds nothing new.
    const status = await json<{ trackers: { id: string; address: string }[] }>(bftmr(home, 'cluster', 'status', '--json'));
    const node = new Peers().get(status.trackers[0]!.address);
    const other = path.join(tempDir('bftmr-hand-over-bad-'), 'f'.repeat(64));
    await fsp.writeFile(other, 'not the block');
    const e = await t.throwsAsync(async () => {
      for await (const _ of node.stream('AdoptBlock', { digest: 'f'.repeat(64), size: 13, path: other, offset: 0 }, 10_000));
    });
    t.true(isBftmrError(e, 'DFS_DIGEST_MISMATCH'), e?.message);
  } finally {
    dfs?.close();
    upload?.close();
    await bftmr(home, 'cluster', 'stop');
  }
});
