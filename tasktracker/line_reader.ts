/**
 * Reads the lines of one split. A split is the byte range [start, end) of a file; as in Hadoop's
 * LineRecordReader it owns the lines whose first byte lies in (start, end], and the first split
 * also the line at 0. So a split skips the line that holds (or begins at) `start`, which the
 * split before it owns, and reads its last line to its end from the following block(s); it never
 * needs the byte before `start`, so a map reads nothing of the block before its split.
 * Line ends are `\n` or `\r\n`; the last line may lack one.
 */
import fs from 'node:fs';
import { isAscii } from 'node:buffer';
import { MB } from '../lib/options.ts';

/** One block of the file, available locally. */
export interface LocalBlock {
  path: string;        // local file holding the block's bytes
  fileOffset: number;  // offset of its first byte in the dfs file
  size: number;
}

export class SplitLineError extends Error {}

/** Sequential reads across a file's consecutive blocks. */
class BlockCursor {
  #i = 0;
  #fd = -1;
  constructor(private readonly blocks: LocalBlock[]) {}

  /** Reads up to buf.length bytes at dfs-file position `pos`; returns 0 at the end of the known blocks. */
  read(buf: Buffer, pos: number): number {
    while (this.#i < this.blocks.length) {
      const b = this.blocks[this.#i]!;
      if (pos < b.fileOffset) throw new SplitLineError(`no block holds offset ${pos}`);
      if (pos < b.fileOffset + b.size) {
        if (this.#fd < 0) this.#fd = fs.openSync(b.path, 'r');
        const want = Math.min(buf.length, b.fileOffset + b.size - pos);
        return fs.readSync(this.#fd, buf, 0, want, pos - b.fileOffset);
      }
      this.close();
      this.#i++;
    }
    return 0;
  }

  close(): void {
    if (this.#fd >= 0) fs.closeSync(this.#fd);
    this.#fd = -1;
  }
}

/**
 * Calls `onLine(line, offset)` for every line the split owns.
 * `blocks` must cover [start, end] and as far past `end` as the last line runs; the last of them
 * may be cut short (a block's verified head), as long as it holds that line's end.
 */
export function readSplitLines(
  blocks: LocalBlock[],
  start: number,
  end: number,
  fileSize: number,
  onLine: (line: string, offset: number) => void,
  chunkBytes = 4 * MB,
): void {
  const cursor = new BlockCursor(blocks);
  try {
    let buf = Buffer.allocUnsafe(chunkBytes);
    let bufStart = start; // dfs offset of buf[0]
    let len = 0;
    let eof = false;
    const fill = (keepFrom: number) => {
      // Keep bytes from `keepFrom` (a buffer index), append more from the file.
      const keep = len - keepFrom;
      if (keep > 0 && keepFrom > 0) buf.copy(buf, 0, keepFrom, len);
      bufStart += keepFrom;
      len = Math.max(keep, 0);
      if (len === buf.length) {
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, len);
        buf = bigger;
      }
      const want = Math.min(buf.length - len, fileSize - (bufStart + len));
      if (want <= 0) { eof = true; return; }
      const n = cursor.read(buf.subarray(len, len + want), bufStart + len);
      if (n === 0) {
        throw new SplitLineError(`the line at offset ${bufStart} runs past the blocks given to this split`);
      }
      len += n;
    };

    fill(0);
    let i = 0;
    if (start > 0) {
      // The line holding byte `start` (or beginning there) belongs to the previous split.
      for (;;) {
        const nl = buf.indexOf(10, i);
        if (nl >= 0 && nl < len) { i = nl + 1; break; }
        if (eof) return;
        fill(len);
        i = 0;
      }
    }
    for (;;) {
      if (bufStart + i > end || bufStart + i >= fileSize) return;
      const lastNl = len > i ? buf.lastIndexOf(10, len - 1) : -1;
      if (lastNl < i) {
        // No complete line in the buffer: read more, or this is the file's last line.
        if (!eof) { fill(i); i = 0; continue; }
        if (len > i) onLine(buf.toString('utf8', i, len), bufStart + i);
        return;
      }
      // Every complete line in the buffer at once. Pure ASCII (the common case) is decoded in one
      // go, where a character offset is a byte offset; otherwise line by line as UTF-8.
      const region = buf.subarray(i, lastNl + 1);
      if (isAscii(region)) {
        const text = region.toString('latin1');
        const base = bufStart + i;
        let p = 0;
        while (p < text.length) {
          if (base + p > end) return;
          const nl = text.indexOf('\n', p);
          const stop = nl > p && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
          onLine(text.slice(p, stop), base + p);
          p = nl + 1;
        }
      } else {
        let p = i;
        while (p <= lastNl) {
          if (bufStart + p > end) return;
          const nl = buf.indexOf(10, p);
          const stop = nl > p && buf[nl - 1] === 13 ? nl - 1 : nl;
          onLine(buf.toString('utf8', p, stop), bufStart + p);
          p = nl + 1;
        }
      }
      i = lastNl + 1;
      // Past the split: done, without reading on (the blocks given may end here, see `blocks`).
      if (bufStart + i > end) return;
      if (!eof) { fill(i); i = 0; }
    }
  } finally {
    cursor.close();
  }
}
