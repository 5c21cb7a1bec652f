/**
 * Cuts input files into map splits of `splitBytes` (aligned to block boundaries when the file's
 * blocks have that size, as `bftmr run` arranges). Each split carries the blocks its map reads
 * (lib/split_reads.ts: its own and the next one, where its last line may run on), not the rest
 * of the file: a launch message stays small however long the file is.
 */
import type { FileBlock, Location } from '../lib/messages.ts';
import { splitReads } from '../lib/split_reads.ts';
import { blockRef, type FileEntry } from './namespace.ts';
import type { SplitSpec } from './core/types.ts';

export function computeSplits(files: FileEntry[], splitBytes: number, locate: (trackerId: string) => Location | undefined): SplitSpec[] {
  const splits: SplitSpec[] = [];
  for (const file of files) {
    const blocks: FileBlock[] = [];
    let off = 0;
    for (const b of file.blocks) {
      const replicas = b.replicas.map(locate).filter((l): l is Location => l !== undefined);
      blocks.push({ block: blockRef(b, replicas), offset: off });
      off += b.size;
    }
    for (let start = 0; start < file.size; start += splitBytes) {
      const length = Math.min(splitBytes, file.size - start);
      const holding = blocks.find((b) => b.offset <= start && start < b.offset + b.block.size)!;
      splits.push({
        path: file.path,
        offset: start,
        length,
        fileSize: file.size,
        blocks: splitReads(blocks, start, length),
        hosts: holding.block.replicas.map((r) => r.tracker_id),
      });
    }
  }
  return splits;
}
