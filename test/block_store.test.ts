import test from 'ava';
import fs from 'node:fs';
import { FileBlockStore } from '../dfs/file_block_store.ts';
import { MemoryBlockStore } from '../dfs/memory_block_store.ts';
import { blockStoreSuite } from './block_store_suite.ts';
import { tempDir } from './helpers/temp.ts';

blockStoreSuite(test, 'FileBlockStore', (now) => FileBlockStore.open(tempDir('bftmr-bs-'), now));
blockStoreSuite(test, 'MemoryBlockStore', async (now) => new MemoryBlockStore(now));

test('FileBlockStore keeps its blocks across a reopen, and exposes local paths', async (t) => {
  const dir = tempDir('bftmr-bs-');
  const a = await FileBlockStore.open(dir);
  async function* one() { yield Buffer.from('durable'); }
  const info = await a.put(one(), 'dfs');
  await a.close();
  const b = await FileBlockStore.open(dir);
  t.is((await b.get(info.digest))?.size, 7);
  t.is(fs.readFileSync(b.localPath(info.digest)!, 'utf8'), 'durable');
  await b.close();
});

test('FileBlockStore: a block whose bytes vanished reads as not held, and comes back whole with its owners', async (t) => {
  const store = await FileBlockStore.open(tempDir('bftmr-bs-'));
  async function* one() { yield Buffer.from('fragile'); }
  const info = await store.put(one(), 'dfs');
  fs.rmSync(store.localPath(info.digest)!);
  const e = await t.throwsAsync(async () => { for await (const _ of store.read(info.digest)) { /* drain */ } });
  t.is((e as { code?: string }).code, 'DFS_NOT_FOUND');
  await store.put(one(), 'job_1');
  t.deepEqual((await store.get(info.digest))?.owners, ['dfs', 'job_1']);
  t.is(fs.readFileSync(store.localPath(info.digest)!, 'utf8'), 'fragile');
  await store.close();
});

test('FileBlockStore: a reader that wants its chunks in its own memory gets them there, the right bytes', async (t) => {
  const store = await FileBlockStore.open(tempDir('bftmr-bs-'));
  const bytes = Buffer.from(Array.from({ length: 500_000 }, (_, i) => `${i}\n`).join('')); // over 3 MB
  async function* one() { yield bytes; }
  const info = await store.put(one(), 'dfs');
  for (const [offset, length] of [[0, 0], [4096, 0], [777_777, 1_654_321]] as const) {
    const given = new Set<ArrayBufferLike>();
    const got: Buffer[] = [];
    const memory = (size: number) => { const b = Buffer.alloc(size); given.add(b.buffer); return b; };
    for await (const c of store.read(info.digest, offset, length, memory, true)) {
      t.true(given.has(c.buffer), 'a chunk in memory the reader handed out');
      got.push(Buffer.from(c));
    }
    t.true(got.length > 1);
    t.true(Buffer.concat(got).equals(bytes.subarray(offset, length ? offset + length : bytes.length)));
  }
  await store.close();
});
