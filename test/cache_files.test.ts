import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { cacheReader } from '../tasktracker/cache_files.ts';
import { tempDir } from './helpers/temp.ts';

test('a cache file is its blocks\' bytes in order, as UTF-8, found by dfs path or base name', (t) => {
  const dir = tempDir('bftmr-cache-');
  // A character split across two blocks decodes whole.
  const bytes = Buffer.from('stop\nwörds\n');
  const cut = bytes.indexOf(0xc3) + 1;
  const blocks = [bytes.subarray(0, cut), bytes.subarray(cut)].map((b, i) => {
    const f = path.join(dir, `b${i}`);
    fs.writeFileSync(f, b);
    return f;
  });
  const read = cacheReader([{ path: '/side/stop.txt', blocks }, { path: '/side/other.txt', blocks: [blocks[0]!] }]);
  t.is(read('/side/stop.txt'), 'stop\nwörds\n');
  t.is(read('stop.txt'), 'stop\nwörds\n');
  t.is(read('other.txt'), 'stop\nw\ufffd');
  const e = t.throws(() => read('nope.txt'));
  t.is(e!.message, 'no cache file "nope.txt": the job has /side/stop.txt, /side/other.txt (job submit --cache-file PATH)');
  t.regex(t.throws(() => cacheReader([])('x'))!.message, /the job has none/);
});
