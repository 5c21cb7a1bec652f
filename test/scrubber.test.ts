/** The storage node's scrubber (tasktracker/scrubber.ts) on a real file block store. */
import test from 'ava';
import fs from 'node:fs';
import { FileBlockStore } from '../dfs/file_block_store.ts';
import { DFS_OWNER } from '../dfs/block_store.ts';
import { Scrubber } from '../tasktracker/scrubber.ts';
import { tempDir } from './helpers/temp.ts';

async function* one(s: string) { yield Buffer.from(s); }

test('a block whose bytes rotted or vanished is reported and stops being a dfs block; sound ones and job data are left alone', async (t) => {
  const store = await FileBlockStore.open(tempDir('bftmr-scrub-'));
  const sound = await store.put(one('sound bytes'), DFS_OWNER);
  const rotten = await store.put(one('rotten bytes'), DFS_OWNER);
  const gone = await store.put(one('vanished bytes'), DFS_OWNER);
  const jobData = await store.put(one('a map output'), 'job_1');
  fs.writeFileSync(store.localPath(rotten.digest)!, 'rotten bytez');
  fs.writeFileSync(store.localPath(jobData.digest)!, 'a map outpuX'); // not the scrubber's business
  fs.rmSync(store.localPath(gone.digest)!);
  const bad: string[] = [];
  let resolve!: () => void;
  const twoFound = new Promise<void>((r) => (resolve = r));
  const scrubber = new Scrubber(store, { bytesPerSec: 1 << 20, passIntervalMs: 10 }, (d) => {
    if (!bad.includes(d)) bad.push(d);
    if (bad.length === 2) resolve();
  }, () => {});
  scrubber.start();
  await twoFound;
  await scrubber.stop();
  t.deepEqual(bad.sort(), [rotten.digest, gone.digest].sort());
  t.is(await store.get(rotten.digest), undefined);
  t.deepEqual((await store.get(sound.digest))?.owners, [DFS_OWNER]);
  t.deepEqual((await store.get(jobData.digest))?.owners, ['job_1']);
  await store.close();
});
