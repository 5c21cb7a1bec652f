import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FileBlockStore } from '../dfs/file_block_store.ts';
import { MemoryBlockStore } from '../dfs/memory_block_store.ts';
import { blockStoreSuite } from './block_store_suite.ts';

blockStoreSuite(test, 'FileBlockStore', () => FileBlockStore.open(fs.mkdtempSync(path.join(os.tmpdir(), 'bftmr-bs-'))));
blockStoreSuite(test, 'MemoryBlockStore', async () => new MemoryBlockStore());

test('FileBlockStore keeps its blocks across a reopen, and exposes local paths', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bftmr-bs-'));
  const a = await FileBlockStore.open(dir);
  async function* one() { yield Buffer.from('durable'); }
  const info = await a.put(one(), 'dfs');
  await a.close();
  const b = await FileBlockStore.open(dir);
  t.is((await b.get(info.digest))?.size, 7);
  t.is(fs.readFileSync(b.localPath(info.digest)!, 'utf8'), 'durable');
  await b.close();
});
