import test from 'ava';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleJob } from '../cli/bundle.ts';
import { sha256 } from '../lib/digest.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

// Submits of one job share its bundled file (named by its digest). Other submits, in other
// processes, rewrite it while this one reads it for `dfs put`: it must never be seen half-written.
test('submits of the same job in several processes never see its bundle half-written', async (t) => {
  const { file, digest } = await bundleJob(path.join(ROOT, 'jobs/word_count.ts'));
  const rounds = 15;
  const script = `import { bundleJob } from './cli/bundle.ts';
    for (let i = 0; i < ${rounds}; i++) await bundleJob('jobs/word_count.ts');`;
  const writers = Array.from({ length: 3 }, () => new Promise<number | null>((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, stdio: 'inherit' });
    p.on('exit', resolve);
  }));
  let running = true;
  const done = Promise.all(writers).finally(() => { running = false; });
  let reads = 0;
  let torn = 0;
  while (running) {
    let bytes: Buffer;
    try { bytes = fs.readFileSync(file); } catch { continue; }
    reads++;
    if (sha256(bytes) !== digest) torn++;
    await new Promise((r) => setImmediate(r));
  }
  t.deepEqual(await done, [0, 0, 0]);
  t.true(reads > 0);
  t.is(torn, 0, `${torn} of ${reads} reads saw a partial bundle`);
});
