/**
 * The job tracker's block audit (jobtracker/block_audit.ts) against a real block service on
 * localhost:0: a full check mints nonce challenges, later checks spend them, and each fault mode
 * is found out for what it is.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { RpcClient, startServer, unary, useCredentials } from '../lib/rpc.ts';
import { BftmrError } from '../lib/errors.ts';
import { createAuthority, issue } from '../lib/identity.ts';
import { FileBlockStore } from '../dfs/file_block_store.ts';
import { Peers } from '../dfs/peers.ts';
import { DFS_OWNER } from '../dfs/block_store.ts';
import { blockHandlers, trackerAccess } from '../tasktracker/block_service.ts';
import { parseFault } from '../tasktracker/faults.ts';
import { BlockAuditor } from '../jobtracker/block_audit.ts';
import { sha256 } from '../lib/digest.ts';
import { loadXXHash } from '../lib/xxhash.ts';
import { newProofMac } from '../lib/proof.ts';
import type { BlockChunk, ProveBlockReply, ProveBlockRequest, WriteBlockReply } from '../lib/messages.ts';
import { tempDir } from './helpers/temp.ts';

// Every channel is mutual TLS: this process serves as task trackers and audits as the job
// tracker (trackers may not ask each other for proofs).
const authority = createAuthority();
useCredentials(issue(authority, 'tasktracker', 'audit-test'));
const auditorPeers = () => new Peers(issue(authority, 'jobtracker', 'audit-test-jt'));

async function node(fault: string) {
  const store = await FileBlockStore.open(tempDir('bftmr-audit-'));
  const peers = new Peers();
  const server = await startServer('127.0.0.1:0', 'TaskTracker', blockHandlers(store, peers, parseFault(fault)), trackerAccess);
  return {
    store,
    address: `127.0.0.1:${server.port}`,
    close: async () => { await server.close(); peers.close(); await store.close(); },
  };
}

const BYTES = Buffer.from('the quick brown fox jumps over the lazy dog\n'.repeat(5_000));
async function* bytes() { yield BYTES; }

test('an honest node passes the full check and then every challenge, each nonce used once', async (t) => {
  const n = await node('');
  const peers = auditorPeers();
  const auditor = new BlockAuditor(peers, { tokensPerFetch: 2, maxBlocks: 10, maxConcurrent: 1 });
  try {
    const { digest } = await n.store.put(bytes(), DFS_OWNER);
    t.deepEqual(await auditor.check(n.address, digest, { mint: true, challenge: true }), { kind: 'match' });
    t.is(auditor.tokens(digest), 2);
    // More checks than may run at once wait their turn and all complete.
    t.deepEqual(await Promise.all([1, 2, 3].map(() => auditor.check(n.address, digest))), [1, 2, 3].map(() => ({ kind: 'match' })));
    t.deepEqual(await auditor.check(n.address, digest, { mint: true, challenge: true }), { kind: 'match' });
    t.deepEqual(await auditor.check(n.address, digest, { mint: true, challenge: true }), { kind: 'match' });
    t.is(auditor.tokens(digest), 0);
    // A job's map output is checked by fetching, and mints nothing.
    t.deepEqual(await auditor.check(n.address, digest), { kind: 'match' });
    t.is(auditor.tokens(digest), 0);
  } finally {
    peers.close();
    await n.close();
  }
});

test('a corrupting node fails both the full check and a challenge minted on an honest copy', async (t) => {
  const honest = await node('');
  const liar = await node('corrupt-blocks');
  const peers = auditorPeers();
  const auditor = new BlockAuditor(peers);
  try {
    const { digest } = await honest.store.put(bytes(), DFS_OWNER);
    await liar.store.put(bytes(), DFS_OWNER);
    t.deepEqual(await auditor.check(liar.address, digest, { mint: true, challenge: true }), { kind: 'mismatch' });
    t.is(auditor.tokens(digest), 0, 'nothing is minted from bytes that do not match');
    t.deepEqual(await auditor.check(honest.address, digest, { mint: true, challenge: true }), { kind: 'match' });
    t.true(auditor.tokens(digest) > 0);
    t.deepEqual(await auditor.check(liar.address, digest, { mint: true, challenge: true }), { kind: 'mismatch' });
  } finally {
    peers.close();
    await honest.close();
    await liar.close();
  }
});

test('a dropping node is found not to hold what it claims; an unreachable one proves nothing', async (t) => {
  const honest = await node('');
  const dropper = await node('drop-blocks');
  const peers = auditorPeers();
  const auditor = new BlockAuditor(peers);
  try {
    const { digest } = await honest.store.put(bytes(), DFS_OWNER);
    // A client writes it (the job tracker stores no blocks, and may not).
    const writer = new Peers(issue(authority, 'client', 'audit-test-writer'));
    const up = writer.get(dropper.address).upload<BlockChunk, WriteBlockReply>('WriteBlock', 10_000);
    const xx = await loadXXHash();
    await up.write({ data: BYTES, xxh32: xx.h32(BYTES), digest: '', last: false });
    await up.write({ data: Buffer.alloc(0), xxh32: xx.h32(Buffer.alloc(0)), digest: sha256(BYTES), last: true });
    t.is((await up.finish()).digest, digest, 'it acknowledges the write');
    writer.close();
    t.truthy(await dropper.store.get(digest), 'and keeps claiming the block');
    t.deepEqual(await auditor.check(dropper.address, digest, { mint: true, challenge: true }), { kind: 'missing' });
    await auditor.check(honest.address, digest, { mint: true, challenge: true });
    t.deepEqual(await auditor.check(dropper.address, digest, { mint: true, challenge: true }), { kind: 'missing' }, 'by challenge too');
    await dropper.close();
    t.is((await auditor.check(dropper.address, digest)).kind, 'no-answer');
  } finally {
    peers.close();
    await honest.close();
  }
});

test('`:late` storage liars answer the first challenge of a block (the writer\'s) honestly, then lie about it', async (t) => {
  for (const [mode, then] of [['corrupt-blocks:late', 'mismatch'], ['drop-blocks:late', 'missing']] as const) {
    const liar = await node(mode);
    const peers = auditorPeers();
    try {
      const { digest } = await liar.store.put(bytes(), DFS_OWNER);
      const nonce = randomBytes(32);
      const r = await peers.get(liar.address).call<ProveBlockRequest, ProveBlockReply>('ProveBlock', { digest, nonce }, 10_000);
      const mac = newProofMac(nonce);
      mac.update(BYTES);
      t.true(Buffer.from(r.mac).equals(mac.digest()), `${mode}: the first challenge is answered`);
      t.deepEqual(await new BlockAuditor(peers).check(liar.address, digest, { mint: true, challenge: true }), { kind: then }, `${mode}: and then it lies`);
    } finally {
      peers.close();
      await liar.close();
    }
  }
});

test('a node that answers challenges from the true bytes but serves readers others is caught once it is accused', async (t) => {
  const honest = await node('');
  const liar = await node('serve-corrupt');
  const peers = auditorPeers();
  const auditor = new BlockAuditor(peers);
  try {
    const { digest } = await honest.store.put(bytes(), DFS_OWNER);
    await liar.store.put(bytes(), DFS_OWNER);
    await auditor.check(honest.address, digest, { mint: true, challenge: true });
    const left = auditor.tokens(digest);
    t.true(left > 0);
    // A routine audit may use a challenge, which it passes: it does hold the bytes...
    t.deepEqual(await auditor.check(liar.address, digest, { mint: true, challenge: true }), { kind: 'match' });
    t.is(auditor.tokens(digest), left - 1);
    // ...but a reader's accusation is checked by reading, as the reader did.
    t.deepEqual(await auditor.check(liar.address, digest, { mint: true }), { kind: 'mismatch' });
    t.is(auditor.tokens(digest), left - 1, 'no challenge spent on an accusation');
  } finally {
    peers.close();
    await honest.close();
    await liar.close();
  }
});

test('a peer\'s LOCAL_IO (its own disk, or its lie) reaches the caller as that call failing, not as the caller\'s own disk', async (t) => {
  // A writer gives up on LOCAL_IO (its local file failed) and moves on from any other error: a
  // tracker that answered LOCAL_IO could otherwise fail a whole put.
  const server = await startServer('127.0.0.1:0', 'TaskTracker', {
    ProveBlock: unary<ProveBlockRequest, ProveBlockReply>(async () => { throw new BftmrError('LOCAL_IO', 'cannot read the local file'); }),
  }, () => ['tasktracker']);
  const client = new RpcClient('TaskTracker', `127.0.0.1:${server.port}`);
  try {
    const e = await t.throwsAsync(client.call('ProveBlock', { digest: 'ab'.repeat(32), nonce: randomBytes(32) }, 5_000), { instanceOf: BftmrError });
    t.is(e!.code, 'INTERNAL');
    t.regex(e!.message, /^ProveBlock to 127\.0\.0\.1:\d+ failed: cannot read the local file$/);
  } finally {
    client.close();
    await server.close();
  }
});
