/** The dfs namespace (jobtracker/namespace.ts): replica changes reach every file and survive a restart. */
import test from 'ava';
import { Namespace, type FileEntry } from '../jobtracker/namespace.ts';
import { sha256 } from '../lib/digest.ts';
import { Kv } from '../lib/kv.ts';
import { tempDir } from './helpers/temp.ts';

const D = (s: string) => sha256(s);
const file = (p: string, replication: number, ...digests: string[]): FileEntry => ({
  path: p, size: digests.length * 10, replication, createdMs: 1,
  blocks: digests.map((digest) => ({ digest, size: 10, replicas: ['A', 'B'] })),
});

test('a block shared by files: one replica change reaches all of them and survives a reopen', async (t) => {
  const dir = tempDir('bftmr-ns-');
  let ns = await Namespace.open(dir);
  await ns.create([file('/a', 2, D('x'), D('y')), file('/b', 3, D('x'))]);
  t.is(ns.wanted(D('x')), 3);
  await ns.setReplicas([{ digest: D('x'), replicas: ['B', 'C', 'D'] }]);
  await ns.close();
  ns = await Namespace.open(dir);
  t.deepEqual((await ns.getFile('/a'))!.blocks.map((b) => b.replicas), [['B', 'C', 'D'], ['A', 'B']]);
  t.deepEqual((await ns.getFile('/b'))!.blocks[0]!.replicas, ['B', 'C', 'D']);
  t.deepEqual((await ns.blocks()).find((b) => b.digest === D('x')), { digest: D('x'), size: 10, wanted: 3, replicas: ['B', 'C', 'D'] });
  // The index is rebuilt from disk: deleting /b leaves x referenced by /a only, then by nothing.
  await ns.delete('/b', false);
  t.true(ns.isReferenced(D('x')));
  t.is(ns.wanted(D('x')), 2);
  const replaced = await ns.create([file('/a', 1, D('z'))], true);
  t.deepEqual(replaced.map((f) => f.path), ['/a']);
  t.false(ns.isReferenced(D('x')));
  t.false(ns.isReferenced(D('y')));
  t.true(ns.isReferenced(D('z')));
  // A change to a block no file refers to writes nothing.
  await ns.setReplicas([{ digest: D('x'), replicas: ['E'] }]);
  t.deepEqual((await ns.blocks()).map((b) => b.digest), [D('z')]);
  await ns.close();
});

test('mv: a file or a whole directory moves in one batch, into a directory when the target is one, never over anything', async (t) => {
  const dir = tempDir('bftmr-ns-');
  let ns = await Namespace.open(dir);
  await ns.create([file('/out/1/part-r-00000', 2, D('p0')), file('/out/1/sub/x', 2, D('x')), file('/in/a', 3, D('a')), file('/keep', 1, D('k'))]);
  t.deepEqual(await ns.rename('/out/1', '/out/2'), { path: '/out/2', files: 2 });
  t.deepEqual((await ns.filesUnder('/out')).map((f) => f.path), ['/out/2/part-r-00000', '/out/2/sub/x']);
  t.is(await ns.stat('/out/1'), undefined);
  t.deepEqual(await ns.rename('/in/a', '/out'), { path: '/out/a', files: 1 }, 'into an existing directory');
  t.is(ns.wanted(D('a')), 3, 'the block index follows the path');
  t.deepEqual((await ns.getFile('/out/a'))!.blocks, file('/x', 3, D('a')).blocks);
  const refused = async (src: string, dst: string, re: RegExp) => {
    const e = await t.throwsAsync(ns.rename(src, dst));
    t.regex(e!.message, re);
  };
  await refused('/nope', '/x', /\/nope: no such file or directory/);
  await refused('/keep', '/out/a', /\/out\/a already exists/);
  await refused('/out', '/out/2/deeper', /cannot move \/out into itself/);
  await refused('/out/2', '/out', /\/out\/2 is already there/);
  await refused('/out/a', '/keep/inside', /\/keep is a file/);
  await refused('/', '/x', /cannot move \//);
  await refused('/keep', '/a/../b', /may not contain '\.\.'/);
  await ns.close();
  ns = await Namespace.open(dir);
  t.deepEqual((await ns.list('/', true)).map((e) => (e.kind === 'file' ? e.file.path : e.path)),
    ['/keep', '/out/2/part-r-00000', '/out/2/sub/x', '/out/a']);
  t.true(ns.isReferenced(D('p0')));
  await ns.close();
});

test('a level directory another process holds is refused with a sentence, not "Database failed to open"', async (t) => {
  const dir = tempDir('bftmr-kv-lock-');
  const held = await Kv.open(dir);
  try {
    await t.throwsAsync(Kv.open(dir), { message: `${dir} is in use by another process (a daemon of this cluster still running?)` });
  } finally {
    await held.close();
  }
});
