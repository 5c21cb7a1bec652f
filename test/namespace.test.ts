/** The dfs namespace (jobtracker/namespace.ts): replica changes reach every file and survive a restart. */
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Namespace, type FileEntry } from '../jobtracker/namespace.ts';
import { sha256 } from '../lib/digest.ts';

const D = (s: string) => sha256(s);
const file = (p: string, replication: number, ...digests: string[]): FileEntry => ({
  path: p, size: digests.length * 10, replication, createdMs: 1,
  blocks: digests.map((digest) => ({ digest, size: 10, replicas: ['A', 'B'] })),
});

test('a block shared by files: one replica change reaches all of them and survives a reopen', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bftmr-ns-'));
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
