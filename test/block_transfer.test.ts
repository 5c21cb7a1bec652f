import test from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import { BftmrError, isBftmrError } from '../lib/errors.ts';
import { sha256 } from '../lib/digest.ts';
import { loadXXHash } from '../lib/xxhash.ts';
import { Peers, SILENT_FOR_MS } from '../dfs/peers.ts';
import type { RpcClient } from '../lib/rpc.ts';
import { fetchBlock, readOrder, streamBlock } from '../dfs/block_transfer.ts';
import { MemoryBlockStore } from '../dfs/memory_block_store.ts';
import { pullBlock } from '../tasktracker/block_service.ts';
import { parseFault, StorageLies } from '../tasktracker/faults.ts';
import { fileBytes, type LocalRead } from '../dfs/short_circuit.ts';
import { FileReader } from '../lib/direct_io.ts';
import { tempDir } from './helpers/temp.ts';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { WaitWatch, type SourcePace } from '../lib/source_pace.ts';
import type { Location, PullBlockRequest } from '../lib/messages.ts';
import { newNonce, newProofMac } from '../lib/proof.ts';

const PACE: SourcePace = { stallMs: 300, minBytesPerSec: 100_000, graceMs: 200 };

/** A node serving `chunks`, waiting `gapMs` before each; it stops when the reader cancels. */
async function fakePeers(chunks: number, chunkBytes: number, gapMs: number): Promise<{ peers: Peers; cancelled: () => boolean; streamed: string[] }> {
  const xx = await loadXXHash();
  let cancelled = false;
  const client = {
    // Like RpcClient.stream: a reader that stops early, or aborts its signal, cancels the call.
    async *stream(_method: string, _req: unknown, _deadline: number, signal?: AbortSignal) {
      let finished = false;
      try {
        for (let i = 0; i < chunks; i++) {
          await sleep(gapMs, undefined, { signal });
          const data = new Uint8Array(chunkBytes).fill(i);
          yield { data, xxh32: xx.h32(data), digest: '', last: false };
        }
        finished = true;
      } finally {
        if (!finished) cancelled = true;
      }
    },
  };
  // Real Peers (which nodes went silent is theirs to keep), every address served by `client`.
  const peers = new Peers();
  const streamed: string[] = [];
  peers.get = (address: string) => {
    streamed.push(address);
    return client as unknown as RpcClient;
  };
  return { peers, cancelled: () => cancelled, streamed };
}

async function read(peers: Peers, slowReaderMs = 0): Promise<number> {
  let n = 0;
  for await (const c of streamBlock(peers, 'node:1', 'ab'.repeat(32), undefined, PACE)) {
    n += c.length;
    if (slowReaderMs) await sleep(slowReaderMs);
  }
  return n;
}

test('a source that stops sending is cut off, and its stream cancelled', async (t) => {
  const { peers, cancelled } = await fakePeers(3, 1000, 2_000);
  const e = await t.throwsAsync(() => read(peers));
  t.true(isBftmrError(e, 'UNAVAILABLE'));
  t.regex(e!.message, /no bytes for 300 ms/);
  t.true(cancelled());
  t.true(peers.isSilent({ address: 'node:1' }), 'the node is taken as silent');
});

test('a source that trickles bytes under the minimum rate is cut off', async (t) => {
  // 1000 bytes every 50 ms: 20 KB/s against a floor of 100 KB/s, never a stall.
  const { peers, cancelled } = await fakePeers(100, 1000, 50);
  const e = await t.throwsAsync(() => read(peers));
  t.true(isBftmrError(e, 'UNAVAILABLE'));
  t.regex(e!.message, /under the \d+(\.\d+)? KB\/s a source must keep up/);
  t.true(cancelled());
});

test('a source is not blamed for the reader\'s own slowness', async (t) => {
  // 100 KB every 10 ms (10 MB/s) to a reader that spends 100 ms on each chunk: slow overall, but
  // not because of the source.
  const { peers } = await fakePeers(6, 100_000, 10);
  t.is(await read(peers, 100), 600_000);
});

/** A sink that checks the bytes against `digest`, as a block store's put does. */
const checking = (digest: string) => async (chunks: AsyncIterable<Uint8Array>) => {
  const parts: Buffer[] = [];
  for await (const c of chunks) parts.push(Buffer.from(c));
  const bytes = Buffer.concat(parts);
  if (sha256(bytes) !== digest) throw new BftmrError('DFS_DIGEST_MISMATCH', 'wrong bytes');
  return bytes;
};

test('a replica whose file this host reads is read from it; wrong bytes there are that replica\'s failure, and the next one is read', async (t) => {
  // Every node serves chunks 0, 1, 2 of 1000 bytes over the network.
  const { peers } = await fakePeers(3, 1000, 0);
  const served = Buffer.concat([0, 1, 2].map((i) => Buffer.alloc(1000, i)));
  const ref = { digest: sha256(served), size: served.length, replicas: ['a', 'b', 'c'].map((id) => ({ tracker_id: id, address: `${id}:1` })) };
  const asked: string[] = [];
  const files = (bytes: Record<string, Buffer>): LocalRead => async (source) => {
    asked.push(source.tracker_id);
    const b = bytes[source.tracker_id];
    return b && (async function* () { yield b.subarray(0, 1500); yield b.subarray(1500); })();
  };

  const direct = await fetchBlock(peers, ref, checking(ref.digest), undefined, undefined, files({ a: served }));
  t.deepEqual([direct.local, direct.failures, direct.result.equals(served)], [true, [], true]);

  // a's file is altered, b has none on this host (its node is read), c is not reached.
  asked.length = 0;
  const altered = Buffer.from(served);
  altered[10] ^= 1;
  const fallback = await fetchBlock(peers, ref, checking(ref.digest), undefined, undefined, files({ a: altered, c: served }));
  t.false(fallback.local);
  t.true(fallback.result.equals(served));
  t.deepEqual(asked, ['a', 'b']);
  t.is(fallback.failures.length, 1);
  t.like(fallback.failures[0], { source: { tracker_id: 'a' }, badBytes: true, missing: false });
  t.regex(fallback.failures[0]!.error, /^its file of the block: /);

  // Without a local reader every replica is read through its node.
  const plain = await fetchBlock(peers, ref, checking(ref.digest));
  t.deepEqual([plain.local, plain.failures.length], [false, 0]);
});

test('a block file is opened only once its bytes are asked for, and a read of it that hangs is given up like a silent source', async (t) => {
  const dir = tempDir('bftmr-file-bytes-');
  const file = path.join(dir, 'ab'.repeat(32));
  const data = randomBytes(3 << 20);
  fs.writeFileSync(file, data);
  // Readers never asked for a byte hold no file and no aligned memory (a sink that failed first).
  for (let i = 0; i < 8; i++) fileBytes(file, 0, data.length, 1000);
  const probe = await FileReader.open(file);
  const direct = probe.direct;
  await probe.close();
  const all = async (it: AsyncIterable<Uint8Array>) => { const out: Buffer[] = []; for await (const c of it) out.push(Buffer.from(c)); return Buffer.concat(out); };
  t.true((await all(fileBytes(file, 0, data.length, 1000))).equals(data));
  t.true((await all(fileBytes(file, 4096, 5 << 20, 1000))).equals(data.subarray(4096)), 'no more than the file has');
  // Through the page cache (a block handed over) too, in pieces that share one buffer: fresh
  // memory for each would be faulted in page by page, most of what such a read costs.
  const memories = new Set<ArrayBufferLike>();
  const plain: Buffer[] = [];
  for await (const c of fileBytes(file, 100, data.length, 1000, false)) { memories.add(c.buffer); plain.push(Buffer.from(c)); }
  t.true(Buffer.concat(plain).equals(data.subarray(100)));
  t.true(plain.length > 2);
  t.is(memories.size, 1);
  await t.throwsAsync(all(fileBytes(path.join(dir, 'missing'), 0, 1, 1000)), { code: 'ENOENT' });
  const again = await FileReader.open(file);
  t.is(again.direct, direct, 'no aligned memory was kept by the readers above');
  await again.close();

  // Every read of the file hangs (a file on a dead network mount, say).
  const fh = await fsp.open(file);
  const proto = Object.getPrototypeOf(fh) as { read: unknown };
  await fh.close();
  const real = proto.read;
  proto.read = () => new Promise(() => {});
  try {
    const e = await t.throwsAsync(all(fileBytes(file, 0, data.length, 300)));
    t.true(isBftmrError(e, 'UNAVAILABLE'));
    t.regex(e!.message, /nothing for 300 ms/);
  } finally {
    proto.read = real;
  }
});

test('a replica that went silent is tried last; one that goes silent on its file\'s look-up is read through its node only after the others', async (t) => {
  const { peers, streamed } = await fakePeers(3, 1000, 0);
  const served = Buffer.concat([0, 1, 2].map((i) => Buffer.alloc(1000, i)));
  const [a, b, c] = ['a', 'b', 'c'].map((id) => ({ tracker_id: id, address: `${id}:1` })) as [Location, Location, Location];
  const ref = { digest: sha256(served), size: served.length, replicas: [a, b, c] };
  const asked: string[] = [];
  // a's node does not answer where its file is (as dfs/short_circuit.ts takes a look-up that times out); no other file is on this host.
  const local: LocalRead = async (source) => {
    asked.push(source.tracker_id);
    if (source === a) peers.silenced(source);
    return undefined;
  };
  const first = await fetchBlock(peers, ref, checking(ref.digest), undefined, undefined, local);
  t.true(first.result.equals(served));
  t.deepEqual([asked, streamed], [['a', 'b'], ['b:1']], 'a is not read through its node while b can be');

  // The next read starts with those that answer.
  asked.length = 0;
  streamed.length = 0;
  await fetchBlock(peers, ref, checking(ref.digest), undefined, undefined, local);
  t.deepEqual([asked, streamed], [['b'], ['b:1']]);

  // The only replica left is read through its node (no second look-up), and it is heard from again.
  asked.length = 0;
  streamed.length = 0;
  const only = await fetchBlock(peers, { ...ref, replicas: [a] }, checking(ref.digest), undefined, undefined, local);
  t.true(only.result.equals(served));
  t.deepEqual([asked, streamed], [[], ['a:1']]);
  t.false(peers.isSilent(a));
});

test('a node is taken as silent for a while, then tried in its place again; the silent ones\' tracker ids are what a writer leaves out', (t) => {
  let now = 1_000;
  const peers = new Peers(undefined, () => now);
  const [a, b, c] = ['a', 'b', 'c'].map((id) => ({ tracker_id: id, address: `${id}:1` })) as [Location, Location, Location];
  peers.silenced(a);
  t.deepEqual(peers.silentLast([a, b, c]), [b, c, a]);
  t.deepEqual(peers.silentIds(), ['a']);
  now += SILENT_FOR_MS - 1;
  t.true(peers.isSilent(a));
  now += 1;
  t.false(peers.isSilent(a));
  t.deepEqual([peers.silentLast([a, b, c]), peers.silentIds()], [[a, b, c], []]);
});

test('a source (or a file) that serves more than the bytes asked is cut off at the block\'s size, as bad bytes: its reader never takes the rest', async (t) => {
  // Valid chunks, without end as far as the reader is concerned: 50 of 1000 bytes for a block of 2000.
  const { peers, cancelled } = await fakePeers(50, 1000, 0);
  const block = Buffer.concat([0, 1].map((i) => Buffer.alloc(1000, i)));
  const ref = { digest: sha256(block), size: block.length, replicas: [{ tracker_id: 'a', address: 'a:1' }] };
  let taken = 0;
  const e = await t.throwsAsync(fetchBlock(peers, ref, async (chunks) => {
    for await (const c of chunks) taken += c.length;
  }));
  t.true(isBftmrError(e, 'DFS_NO_REPLICA'));
  const [failure] = (e as unknown as { failures: { badBytes: boolean; error: string }[] }).failures;
  t.true(failure!.badBytes);
  t.regex(failure!.error, /a:1 served more than the 2000 bytes asked of block/);
  t.is(taken, 2000);
  t.true(cancelled(), 'the stream is cancelled');
  // So is a file that holds more than the block.
  taken = 0;
  const long: LocalRead = async () => (async function* () { yield Buffer.alloc(1500); yield Buffer.alloc(1500); })();
  const f = await t.throwsAsync(fetchBlock(peers, ref, async (chunks) => { for await (const c of chunks) taken += c.length; }, undefined, undefined, long));
  t.regex((f as unknown as { failures: { error: string }[] }).failures[0]!.error, /^its file of the block: the file of a served more than the 2000 bytes asked/);
  t.is(taken, 1500);
  // A range asks for fewer.
  const part = await fetchBlock(peers, ref, async (chunks) => { let n = 0; for await (const c of chunks) n += c.length; return n; }, undefined, { offset: 1000, length: 0 })
    .catch((err: unknown) => err as Error);
  t.regex((part as { failures?: { error: string }[] }).failures?.[0]?.error ?? '', /served more than the 1000 bytes asked/);
});

test('a wait on a peer is given up after its limit; time the process itself stood still does not count', async (t) => {
  let silent = 0;
  const watch = new WaitWatch(() => silent++, 20);
  try {
    // The process stops for 600 ms (as under Ctrl-Z: no timer runs) during a wait of at most 200 ms.
    const waiting = watch.on(new Promise<string>((resolve) => setTimeout(() => resolve('answered'), 50)), 200);
    const busy = Date.now() + 600;
    while (Date.now() < busy) { /* stood still */ }
    t.is(await waiting, 'answered');
    t.is(silent, 0, 'not taken for the peer\'s silence');
    // A wait that never ends is given up.
    const never = new Promise<never>(() => {});
    void watch.on(never, 200, 'an answer');
    while (silent === 0) await sleep(20);
    t.is(watch.silentForMs, 200);
    t.is(watch.silentFor, 'an answer');
  } finally {
    watch.stop();
  }
});

test('a pull whose caller gave up (its call cancelled) stops fetching, and stores nothing', async (t) => {
  const { peers, cancelled } = await fakePeers(50, 1000, 100);
  const store = new MemoryBlockStore();
  const ac = new AbortController();
  const req = { digest: 'ab'.repeat(32), size: 50_000, sources: [{ tracker_id: 'a', address: 'a:1' }] };
  setTimeout(() => ac.abort(), 300);
  await t.throwsAsync(pullBlock(store, peers, new StorageLies(parseFault(''), store), req, ac.signal));
  t.true(cancelled(), 'the source\'s stream is cancelled');
  const held = [];
  for await (const b of store.list()) held.push(b);
  t.deepEqual(held, []);
});

test('a pull from a source on this host reads the source\'s block file; a source elsewhere, or a file with other bytes, is read through its node', async (t) => {
  const dir = tempDir('bftmr-pull-file-');
  const bytes = randomBytes(300_000);
  const digest = sha256(bytes);
  const file = path.join(dir, digest);
  fs.writeFileSync(file, bytes);
  const located: string[] = [];
  const streamed: string[] = [];
  const peers = new Peers();
  // Every node names `file` as its copy; its network stream serves `served` (the right bytes unless set).
  let served = bytes;
  peers.get = (address: string) => ({
    async call(method: string) {
      t.is(method, 'LocateBlock');
      located.push(address);
      return { path: file, size: bytes.length };
    },
    async *stream() {
      streamed.push(address);
      const xx = await loadXXHash();
      yield { data: served, xxh32: xx.h32(served), digest: '', last: false };
    },
  }) as unknown as RpcClient;
  const pull = async (...addresses: string[]) => {
    const store = new MemoryBlockStore();
    const sources = addresses.map((address, i) => ({ tracker_id: `t${i}`, address }));
    const r = await pullBlock(store, peers, new StorageLies(parseFault(''), store), { digest, size: bytes.length, sources });
    const held = [];
    for await (const c of store.read(digest, 0, 0)) held.push(c);
    t.true(Buffer.concat(held).equals(bytes));
    return r;
  };

  served = Buffer.alloc(bytes.length); // the node's stream is wrong: only the file gives the block
  const here = await pull('127.0.0.1:1');
  t.deepEqual([here.local, here.failures, located, streamed], [true, [], ['127.0.0.1:1'], []]);

  served = bytes;
  located.length = 0;
  const elsewhere = await pull('node-on-another-host.invalid:1');
  t.deepEqual([elsewhere.local, located, streamed], [false, [], ['node-on-another-host.invalid:1']]);

  // The file now holds other bytes: they count against that source, and the next one is read.
  streamed.length = 0;
  const other = Buffer.from(bytes);
  other[5] ^= 1;
  fs.writeFileSync(file, other);
  const changed = await pull('127.0.0.1:1', 'node-on-another-host.invalid:1');
  t.false(changed.local);
  t.deepEqual(streamed, ['node-on-another-host.invalid:1']);
  t.is(changed.failures.length, 1);
  t.like(changed.failures[0], { source: { tracker_id: 't0' }, badBytes: true });
  t.regex(changed.failures[0]!.error, /^its file of the block: /);
});

test('a pull answers the writer\'s challenge sent along as the bytes come in: the MAC of the copy kept, not of a lying source\'s bytes; some storage liars leave it to ProveBlock', async (t) => {
  const bytes = randomBytes(300_000);
  const digest = sha256(bytes);
  const bad = Buffer.from(bytes);
  bad[7] ^= 1;
  // Two nodes on another host: the first serves altered bytes, the second the block.
  const peers = new Peers();
  peers.get = (address: string) => ({
    async *stream() {
      const xx = await loadXXHash();
      const served = address.startsWith('liar') ? bad : bytes;
      for (let at = 0; at < served.length; at += 65536) {
        const data = served.subarray(at, at + 65536);
        yield { data, xxh32: xx.h32(data), digest: '', last: false };
      }
    },
  }) as unknown as RpcClient;
  const sources = [{ tracker_id: 'liar', address: 'liar.invalid:1' }, { tracker_id: 'honest', address: 'honest.invalid:1' }];
  const nonce = newNonce();
  const expected = newProofMac(nonce);
  expected.update(bytes);
  const mac = expected.digest();
  const pull = async (fault: string, req: Partial<PullBlockRequest> = {}) => {
    const store = new MemoryBlockStore();
    return pullBlock(store, peers, new StorageLies(parseFault(fault), store), { digest, size: bytes.length, sources, nonce, ...req });
  };

  const honest = await pull('');
  t.is(honest.failures.length, 1); // the liar's bytes were tried first, and their MAC dropped with them
  t.true(Buffer.from(honest.reply.mac!).equals(mac));
  t.is((await pull('', { nonce: undefined })).reply.mac, undefined); // no challenge sent, none answered
  await t.throwsAsync(pull('', { nonce: Buffer.alloc(5) }), { message: /a proof nonce has 32 bytes, not 5/ });
  // A corrupt-blocks liar answers for the bytes it will serve, which the writer refuses; the others do not answer here.
  const corrupt = await pull('corrupt-blocks');
  t.true(corrupt.reply.mac!.length > 0);
  t.false(Buffer.from(corrupt.reply.mac!).equals(mac));
  for (const fault of ['drop-blocks', 'corrupt-blocks:late', 'drop-blocks:late']) t.is((await pull(fault)).reply.mac, undefined, fault);
});

test('a reader tries a block\'s replicas on this host first, each group in random order: every replica comes first for some reads', (t) => {
  const far = [{ address: 'node-a.invalid:9000' }, { address: 'node-b.invalid:9000' }]; // .invalid: never this host's name
  const near = [{ address: '127.0.0.1:9001' }, { address: '127.0.0.1:9002' }, { address: 'localhost:9003' }];
  const replicas = [far[0]!, near[0]!, far[1]!, near[1]!, near[2]!];
  const firsts = new Map<string, number>();
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const sorted = (rs: { address: string }[]) => rs.map((r) => r.address).sort();
  for (let i = 0; i < 300; i++) {
    const order = readOrder(replicas, random);
    t.deepEqual(sorted(order), sorted(replicas));
    t.deepEqual(sorted(order.slice(0, 3)), sorted(near), 'this host\'s replicas first');
    firsts.set(order[0]!.address, (firsts.get(order[0]!.address) ?? 0) + 1);
    firsts.set(`last ${order[4]!.address}`, (firsts.get(`last ${order[4]!.address}`) ?? 0) + 1);
  }
  for (const r of near) t.true((firsts.get(r.address) ?? 0) > 50, `${r.address} came first ${firsts.get(r.address)} times of 300`);
  for (const r of far) t.true((firsts.get(`last ${r.address}`) ?? 0) > 90, `${r.address} came last ${firsts.get(`last ${r.address}`)} times of 300`);
  t.deepEqual(readOrder([]), []);
});
