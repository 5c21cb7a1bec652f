/** The storage node's scrubber (tasktracker/scrubber.ts) on a real file block store. */
import test from 'ava';
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
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

test('a block file replaced by a FIFO or a directory is reported as bad without holding up the scrubber, and its name is free again', async (t) => {
  const store = await FileBlockStore.open(tempDir('bftmr-scrub-'));
  const fifo = await store.put(one('piped bytes'), DFS_OWNER);
  const dir = await store.put(one('directory bytes'), DFS_OWNER);
  const rotten = await store.put(one('rotten bytes'), DFS_OWNER);
  const fifoFile = store.localPath(fifo.digest)!;
  const dirFile = store.localPath(dir.digest)!;
  fs.rmSync(fifoFile);
  execFileSync('mkfifo', [fifoFile]); // opened plainly, it would wait for a writer for good
  fs.rmSync(dirFile);
  fs.mkdirSync(dirFile);
  fs.writeFileSync(`${dirFile}/inside`, 'x');
  fs.writeFileSync(store.localPath(rotten.digest)!, 'rotten bytez');
  t.is(store.localPath(fifo.digest), undefined, 'no local path names a FIFO');
  t.is(store.localPath(dir.digest), undefined, 'nor a directory');
  const bad: string[] = [];
  const lines: string[] = [];
  let resolve!: () => void;
  const allFound = new Promise<void>((r) => (resolve = r));
  const scrubber = new Scrubber(store, { bytesPerSec: 1 << 20, passIntervalMs: 10 }, (d) => {
    if (!bad.includes(d)) bad.push(d);
    if (bad.length === 3) resolve();
  }, (l) => lines.push(l));
  scrubber.start();
  await allFound;
  await scrubber.stop();
  t.deepEqual(bad.sort(), [fifo.digest, dir.digest, rotten.digest].sort());
  t.false(lines.some((l) => l.includes('scrubber stopped')), lines.join('\n'));
  t.false(fs.existsSync(fifoFile) || fs.existsSync(dirFile), 'the FIFO and the directory were removed with the block');
  // Stored again, the block's bytes take their name back.
  await store.put(one('directory bytes'), DFS_OWNER);
  t.is(fs.readFileSync(store.localPath(dir.digest)!, 'utf8'), 'directory bytes');
  await store.close();
});

test('a read error that may pass (too many open files, say) is logged and the copy kept, to be read again next pass', async (t) => {
  const store = await FileBlockStore.open(tempDir('bftmr-scrub-'));
  const sound = await store.put(one('sound bytes'), DFS_OWNER);
  const rotten = await store.put(one('rotten bytes'), DFS_OWNER);
  fs.writeFileSync(store.localPath(rotten.digest)!, 'rotten bytez');
  // The store as the scrubber sees it, out of file descriptors for its first two reads of the sound block.
  let failures = 2;
  const flaky = new Proxy(store, {
    get(target, prop) {
      if (prop === 'read') {
        return (digest: string, ...rest: []) => {
          if (digest === sound.digest && failures-- > 0) {
            return (async function* () { throw Object.assign(new Error('EMFILE: too many open files'), { code: 'EMFILE' }); })();
          }
          return target.read(digest, ...rest);
        };
      }
      const v = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  const bad: string[] = [];
  const lines: string[] = [];
  const scrubber = new Scrubber(flaky, { bytesPerSec: 1 << 20, passIntervalMs: 10 }, (d) => bad.push(d), (l) => lines.push(l));
  scrubber.start();
  // Until the sound block was read after its errors, and a pass more.
  while (failures >= 0) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 100));
  await scrubber.stop();
  t.deepEqual([...new Set(bad)], [rotten.digest], 'only the rotten copy is reported');
  t.deepEqual((await store.get(sound.digest))?.owners, [DFS_OWNER], 'the sound copy is kept');
  t.true(lines.some((l) => l.includes(`block ${sound.digest.slice(0, 12)} could not be read (EMFILE: too many open files); it is read again next pass`)), lines.join('\n'));
  t.false(lines.some((l) => l.includes('scrubber stopped')));
  await store.close();
});
