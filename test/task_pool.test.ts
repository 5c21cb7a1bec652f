/**
 * Attempts on real piscina pools (tasktracker/pool.ts): each job has threads of its own, so what
 * one job's code does to its thread reaches no other job; and what one task leaves behind does not
 * fail the next task of its job on the same thread.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { TaskPool } from '../tasktracker/pool.ts';
import type { MapWork } from '../tasktracker/worker.ts';
import type { MapResult } from '../tasktracker/map_runner.ts';
import { sha256 } from '../lib/digest.ts';
import { tempDir } from './helpers/temp.ts';

/** A map attempt of job `jobId`, task `task`, over the line 'A b'. */
function mapWork(dir: string, jobId: string, code: string, task = 0): MapWork {
  const bundlePath = path.join(dir, `${jobId}.mjs`);
  fs.writeFileSync(bundlePath, code);
  const input = path.join(dir, `${jobId}-${task}.txt`);
  fs.writeFileSync(input, 'A b\n');
  return {
    kind: 'map', jobId, taskKey: `${jobId}/m/${task}`, jobStartMs: 0, bundlePath, bundleDigest: sha256(code), conf: {}, numReduces: 1,
    logPath: path.join(dir, 'logs', `${jobId}-${task}.log`), cache: [],
    input: { file: `/${jobId}`, blocks: [{ path: input, fileOffset: 0, size: 4 }], start: 0, end: 4, fileSize: 4 },
    outPaths: [path.join(dir, `${jobId}-${task}.out`)],
  };
}

const lowerCase = `export default {
  map(line, ctx) { for (const w of line.split(' ')) ctx.emit(w.toLowerCase(), '1'); },
  reduce(key, values, ctx) { ctx.emit(key, String(values.length)); },
};\n`;

test('a job whose code changes a built-in changes no other job\'s results: each job has threads of its own, ended with the job', async (t) => {
  const dir = tempDir('bftmr-pool-');
  const pool = new TaskPool(1, 256, dir);
  t.teardown(() => pool.close());
  const honest = async (jobId: string) => {
    const w = mapWork(dir, jobId, lowerCase);
    await pool.run(w);
    return fs.readFileSync(w.outPaths[0]!);
  };
  const before = await honest('job_1');
  t.true(before.includes('a') && !before.includes('A'));
  // This job's code, as it loads, makes toLowerCase lie in its thread (its own output is its business).
  await pool.run(mapWork(dir, 'job_2', `String.prototype.toLowerCase = function () { return 'pwned'; };\n${lowerCase}`));
  t.deepEqual(await honest('job_3'), before);
  t.deepEqual(pool.jobs().sort(), ['job_1', 'job_2', 'job_3']);
  await pool.endJob('job_2');
  t.deepEqual(pool.jobs().sort(), ['job_1', 'job_3']);
  // Its next attempt here, if any, gets new threads.
  const r = (await pool.run(mapWork(dir, 'job_1', lowerCase, 1))) as MapResult;
  t.is(r.partitions.length, 1);
});

test('a job\'s pool idle past its limit goes; a later attempt of the job gets a new one', async (t) => {
  const dir = tempDir('bftmr-pool-');
  const pool = new TaskPool(1, 256, dir, 200);
  t.teardown(() => pool.close());
  await pool.run(mapWork(dir, 'job_1', lowerCase));
  t.deepEqual(pool.jobs(), ['job_1']);
  for (let i = 0; i < 50 && pool.jobs().length > 0; i++) await new Promise((r) => setTimeout(r, 100));
  t.deepEqual(pool.jobs(), []);
  await t.notThrowsAsync(pool.run(mapWork(dir, 'job_1', lowerCase, 1)));
});

test('a rejection one task\'s code leaves behind (a timer\'s) fails neither that task, once ended, nor the next task of its job on the thread', async (t) => {
  const dir = tempDir('bftmr-pool-');
  const pool = new TaskPool(1, 256, dir);
  t.teardown(() => pool.close());
  // The first map starts a timer whose promise rejects a little later, after its task has ended;
  // the second map of the same job runs on the same (only) thread meanwhile.
  const stray = `export default {
    map(line, ctx) { if (ctx.file.endsWith('first')) setTimeout(() => void Promise.reject(new Error('job A stray')), 5); ctx.emit(line, '1'); },
    reduce(key, values, ctx) { ctx.emit(key, String(values.length)); },
  };\n`;
  const first = { ...mapWork(dir, 'job_a', stray, 0), input: { ...mapWork(dir, 'job_a', stray, 0).input, file: '/first' } };
  await t.notThrowsAsync(pool.run(first));
  await new Promise((r) => setTimeout(r, 20));
  await t.notThrowsAsync(pool.run(mapWork(dir, 'job_a', stray, 1)));
  // Its own stray, in its own run, fails the task that left it.
  const c = mapWork(dir, 'job_c', `export default {
    map(line, ctx) { void Promise.reject(new Error('job C stray')); ctx.emit(line, '1'); },
    reduce(key, values, ctx) { ctx.emit(key, values.join()); },
  };\n`);
  await t.throwsAsync(pool.run(c), { message: /map code left a promise that was rejected .*: job C stray/ });
});
