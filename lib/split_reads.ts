import type { FileBlock } from './messages.ts';

/**
 * The blocks a map attempt reads for the split [offset, offset+length) out of the file's blocks
 * (see tasktracker/line_reader.ts): the one holding its first byte through the one holding its
 * last, plus the next one (its last line may begin at the end or run past it), and the ones after
 * that as long as the last taken has no line end (its writer said so: BlockRef.no_newline). A line
 * may be longer than a block, as Hadoop reads one.
 */
export function splitReads(blocks: FileBlock[], offset: number, length: number): FileBlock[] {
  const end = offset + length;
  const first = blocks.findIndex((b) => b.offset + b.block.size > offset);
  let last = blocks.findIndex((b) => b.offset + b.block.size >= end);
  if (last < 0) last = blocks.length - 1;
  let stop = Math.min(last + 2, blocks.length);
  while (stop < blocks.length && blocks[stop - 1]!.block.no_newline) stop++;
  return blocks.slice(Math.max(first, 0), stop);
}
