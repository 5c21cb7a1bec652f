import type { FileBlock } from './messages.ts';

/**
 * The blocks a map attempt reads for the split [offset, offset+length) out of the file's blocks
 * from the split on: the one holding the byte before the split (does a line start at `offset`?),
 * through the one holding its last byte, plus the next one (a line that runs past the end).
 */
export function splitReads(blocks: FileBlock[], offset: number, length: number): FileBlock[] {
  const from = Math.max(offset - 1, 0);
  const end = offset + length;
  const first = blocks.findIndex((b) => b.offset + b.block.size > from);
  let last = blocks.findIndex((b) => b.offset + b.block.size >= end);
  if (last < 0) last = blocks.length - 1;
  return blocks.slice(Math.max(first, 0), Math.min(last + 2, blocks.length));
}
