/**
 * Cuts input files into map splits of `splitBytes` (aligned to block boundaries when the file's
 * blocks have that size, as `bftmr run` arranges). Each split carries the blocks from the one
 * holding its first byte (or the byte before it) to the end of the file: a line that starts in
 * the split is read to its end even when that lies in a later block.
 */
import type { FileBlock, Location } from '../lib/messages.ts';
import type { FileEntry } from './namespace.ts';
import type { SplitSpec } from './core/types.ts';

export function computeSplits(files: FileEntry[], splitBytes: number, locate: (trackerId: string) => Location | undefined): SplitSpec[] {
  const splits: SplitSpec[] = [];
  for (const file of files) {
    const blocks: FileBlock[] = [];
    let off = 0;
    for (const b of file.blocks) {
      const replicas = b.replicas.map(locate).filter((l): l is Location => l !== undefined);
      blocks.push({ block: { digest: b.digest, size: b.size, replicas }, offset: off });
      off += b.size;
    }
    for (let start = 0; start < file.size; start += splitBytes) {
      const length = Math.min(splitBytes, file.size - start);
      const from = Math.max(start - 1, 0);
      const first = blocks.findIndex((b) => b.offset <= from && from < b.offset + b.block.size);
      const mine = blocks.slice(first);
      const holding = blocks.find((b) => b.offset <= start && start < b.offset + b.block.size)!;
      splits.push({
        path: file.path,
        offset: start,
        length,
        fileSize: file.size,
        blocks: mine,
        hosts: holding.block.replicas.map((r) => r.tracker_id),
      });
    }
  }
  return splits;
}
