/**
 * Hand-encoded BlockChunks (dfs/chunk_codec.ts) over real gRPC: what the other side decodes is
 * exactly what was encoded, for edge sizes of both varints, in place and not.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { RpcClient, serverStream, clientStream, startServer, useCredentials } from '../lib/rpc.ts';
import { createAuthority, issue } from '../lib/identity.ts';
import { chunkBuffer, chunkSent, encodeChunk } from '../dfs/chunk_codec.ts';
import { createHash } from 'node:crypto';
import { kDfsDefaults } from '../lib/options.ts';
import type { BlockChunk, ReadBlockRequest, WriteBlockReply } from '../lib/messages.ts';

const authority = createAuthority();
useCredentials(issue(authority, 'tasktracker', 'codec-test'));

const SIZES = [0, 1, 127, 128, 16_383, 16_384, 1 << 20];
const SUMS = [0, 1, 127, 128, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff];

/** Each case's bytes, and how they are held: in a chunk buffer (encoded in place) or not. */
function cases(): { data: Uint8Array; xxh32: number; roomy: boolean }[] {
  return SIZES.flatMap((n, i) => {
    const bytes = randomBytes(n);
    const roomy = chunkBuffer(n + 7).subarray(0, n); // a short read into a chunk buffer
    roomy.set(bytes);
    // Same offset as a chunk buffer's data, but someone else's memory in front: must not be touched.
    const foreign = new Uint8Array(n + 12).fill(0xee).subarray(12);
    foreign.set(bytes);
    return [
      { data: roomy, xxh32: SUMS[i]!, roomy: true },
      { data: foreign, xxh32: SUMS[(i + 3) % SUMS.length]!, roomy: false },
    ];
  });
}

test('hand-encoded chunks decode to the same bytes and checksum, both ways, and never write outside their own memory', async (t) => {
  const sent = cases();
  const expected = sent.map((c) => ({ data: Buffer.from(c.data), xxh32: c.xxh32 }));
  const uploaded: { data: Buffer; xxh32: number }[] = [];
  const server = await startServer('127.0.0.1:0', 'TaskTracker', {
    ReadBlock: serverStream<ReadBlockRequest, BlockChunk>(async function* () {
      for (const c of sent) yield encodeChunk(c.data, c.xxh32);
    }),
    WriteBlock: clientStream<BlockChunk, WriteBlockReply>(async (chunks) => {
      for await (const c of chunks) uploaded.push({ data: Buffer.from(c.data), xxh32: c.xxh32 });
      return { digest: '', size: uploaded.length };
    }),
  }, () => ['tasktracker']);
  const client = new RpcClient('TaskTracker', `127.0.0.1:${server.port}`);
  try {
    const got: { data: Buffer; xxh32: number }[] = [];
    for await (const c of client.stream<ReadBlockRequest, BlockChunk>('ReadBlock', { digest: '', offset: 0, length: 0 }, 10_000)) {
      t.is(c.digest, '');
      t.false(c.last);
      got.push({ data: Buffer.from(c.data), xxh32: c.xxh32 });
    }
    t.deepEqual(got, expected);

    const up = client.upload<BlockChunk, WriteBlockReply>('WriteBlock', 10_000);
    for (const c of sent) await up.write(encodeChunk(c.data, c.xxh32));
    t.is((await up.finish()).size, sent.length);
    t.deepEqual(uploaded, expected);

    for (const c of sent) {
      if (!c.roomy) t.true(new Uint8Array(c.data.buffer, 0, 12).every((b) => b === 0xee));
    }
    // Encoding leaves the data itself as it was.
    t.deepEqual(sent.map((c) => Buffer.from(c.data)), expected.map((e) => e.data));
  } finally {
    client.close();
    await server.close();
  }
});

test('a full-size chunk buffer given back once gRPC copied it serves the next chunk, once; small ones are not kept', (t) => {
  const a = chunkBuffer(kDfsDefaults.chunkBytes);
  chunkSent(encodeChunk(a, 1));
  chunkSent(encodeChunk(a, 1)); // a second word for the same memory is ignored
  const b = chunkBuffer(kDfsDefaults.chunkBytes - 5);
  t.is(b.buffer, a.buffer, 'the memory comes back');
  t.is(b.length, kDfsDefaults.chunkBytes - 5);
  t.not(chunkBuffer(kDfsDefaults.chunkBytes).buffer, a.buffer, 'and is handed out once');
  const small = chunkBuffer(100);
  chunkSent(encodeChunk(small, 2));
  t.not(chunkBuffer(100).buffer, small.buffer);
});

test('pooled chunk memory is reused only after gRPC copied it: 64 MB each way arrive intact', async (t) => {
  const CHUNKS = 64;
  // Every chunk different, each written into pooled memory just before it is sent.
  const fill = (i: number) => {
    const c = chunkBuffer(kDfsDefaults.chunkBytes).fill(i);
    for (let at = 0; at < c.length; at += 4096) c.writeUInt32LE((i * 1_000_003 + at) >>> 0, at);
    return c;
  };
  const expected = createHash('sha256');
  for (let i = 0; i < CHUNKS; i++) expected.update(fill(i));
  const want = expected.digest('hex');
  let uploaded = '';
  const server = await startServer('127.0.0.1:0', 'TaskTracker', {
    ReadBlock: serverStream<ReadBlockRequest, BlockChunk>(async function* () {
      for (let i = 0; i < CHUNKS; i++) yield encodeChunk(fill(i), i);
    }, chunkSent),
    WriteBlock: clientStream<BlockChunk, WriteBlockReply>(async (chunks) => {
      const h = createHash('sha256');
      for await (const c of chunks) h.update(c.data);
      uploaded = h.digest('hex');
      return { digest: uploaded, size: 0 };
    }),
  }, () => ['tasktracker']);
  const client = new RpcClient('TaskTracker', `127.0.0.1:${server.port}`);
  try {
    const h = createHash('sha256');
    for await (const c of client.stream<ReadBlockRequest, BlockChunk>('ReadBlock', { digest: '', offset: 0, length: 0 }, 30_000)) h.update(c.data);
    t.is(h.digest('hex'), want, 'served');
    const up = client.upload<BlockChunk, WriteBlockReply>('WriteBlock', 30_000, chunkSent);
    for (let i = 0; i < CHUNKS; i++) await up.write(encodeChunk(fill(i), i));
    await up.finish();
    t.is(uploaded, want, 'uploaded');
  } finally {
    client.close();
    await server.close();
  }
});
