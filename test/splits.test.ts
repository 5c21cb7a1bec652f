import test from 'ava';
import { computeSplits } from '../jobtracker/splits.ts';
import type { FileEntry } from '../jobtracker/namespace.ts';

const MB = 1 << 20;

function file(path: string, sizes: number[]): FileEntry {
  return {
    path, size: sizes.reduce((a, b) => a + b, 0), replication: 3, createdMs: 0,
    blocks: sizes.map((size, i) => ({ digest: `${path}-${i}`.padEnd(64, '0'), size, replicas: [`t${i % 3}`] })),
  };
}

test('a split carries the blocks its map reads (its own and the next), not the rest of the file', (t) => {
  const locate = (id: string) => ({ tracker_id: id, address: `${id}:1` });
  const splits = computeSplits([file('/big', Array(50).fill(64 * MB).concat([10 * MB]))], 64 * MB, locate);
  t.is(splits.length, 51);
  for (const [i, s] of splits.entries()) {
    t.is(s.offset, i * 64 * MB);
    t.deepEqual(s.blocks.map((b) => b.offset), i < 50 ? [i * 64 * MB, (i + 1) * 64 * MB] : [50 * 64 * MB], `split ${i}`);
    t.deepEqual(s.hosts, [`t${i % 3}`]);
  }
  // Splits smaller than blocks: the block holding the split, and the next.
  const small = computeSplits([file('/f', [64 * MB, 64 * MB, 64 * MB])], 16 * MB, locate);
  t.is(small.length, 12);
  t.deepEqual(small[5]!.blocks.map((b) => b.offset), [64 * MB, 128 * MB]);
  t.deepEqual(small[11]!.blocks.map((b) => b.offset), [128 * MB]);
});

test('a line longer than a block: the blocks its writer saw no line end in are read on, to the first that has one', (t) => {
  const locate = (id: string) => ({ tracker_id: id, address: `${id}:1` });
  // Blocks 1, 2 and 4 hold no line end: a line runs from block 0 through block 3, and one from block 3 to the end.
  const f = file('/long', [MB, MB, MB, MB, MB, MB]);
  for (const i of [1, 2, 4]) f.blocks[i]!.noNewline = true;
  const splits = computeSplits([f], MB, locate);
  const reads = splits.map((s) => s.blocks.map((b) => b.offset / MB));
  t.deepEqual(reads, [[0, 1, 2, 3], [1, 2, 3], [2, 3], [3, 4, 5], [4, 5], [5]]);
  t.true(splits[1]!.blocks[0]!.block.no_newline);
});
