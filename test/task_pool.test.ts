/**
 * Attempts on a real piscina pool (tasktracker/pool.ts): what one job's code leaves behind does
 * not fail another job's task on the same worker thread.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { TaskPool } from '../tasktracker/pool.ts';
import type { MapWork } from '../tasktracker/worker.ts';
import { sha256 } from '../lib/digest.ts';
import { tempDir } from './helpers/temp.ts';

function mapWork(dir: string, name: string, code: string): MapWork {
  const bundlePath = path.join(dir, `${name}.mjs`);
  fs.writeFileSync(bundlePath, code);
  const input = path.join(dir, `${name}.txt`);
  fs.writeFileSync(input, 'a b\n');
  return {
    kind: 'map', taskKey: `${name}/m/0`, jobStartMs: 0, bundlePath, bundleDigest: sha256(code), conf: {}, numReduces: 1,
    logPath: path.join(dir, 'logs', `${name}.log`), cache: [],
    input: { file: `/${name}`, blocks: [{ path: input, fileOffset: 0, size: 4 }], start: 0, end: 4, fileSize: 4 },
    outPaths: [path.join(dir, `${name}.out`)],
  };
}

test('a rejection one job\'s code leaves behind (a timer\'s) fails neither that task, once ended, nor the next job\'s task on the worker', async (t) => {
  const dir = tempDir('bftmr-pool-');
  const pool = new TaskPool(1, 256);
  t.teardown(() => pool.close());
  // Job A's map starts a timer whose promise rejects a little later, after its task has ended.
  const a = mapWork(dir, 'a', `export default {
    map(line, ctx) { setTimeout(() => void Promise.reject(new Error('job A stray')), 5); ctx.emit(line, '1'); },
    reduce(key, values, ctx) { ctx.emit(key, String(values.length)); },
  };\n`);
  // Job B's code is new to the worker: loading it takes a while, and A's timer fires meanwhile.
  const b = mapWork(dir, 'b', `export default { map(line, ctx) { ctx.emit(line, '1'); }, reduce(key, values, ctx) { ctx.emit(key, values.join()); } };\n`);
  await t.notThrowsAsync(pool.run(a));
  await t.notThrowsAsync(pool.run(b));
  // Its own stray, in its own run, fails the task that left it.
  const c = mapWork(dir, 'c', `export default {
    map(line, ctx) { void Promise.reject(new Error('job C stray')); ctx.emit(line, '1'); },
    reduce(key, values, ctx) { ctx.emit(key, values.join()); },
  };\n`);
  await t.throwsAsync(pool.run(c), { message: /map code left a promise that was rejected .*: job C stray/ });
});
