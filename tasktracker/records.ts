/**
 * The intermediate record format: a sequence of [varint keyLength][key][varint valueLength][value],
 * keys and values UTF-8. Byte-for-byte deterministic, so map outputs can be voted on by digest.
 */
import fs from 'node:fs';
import { MB } from '../lib/options.ts';

export function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) { n = Math.floor(n / 128); size++; }
  return size;
}

export function writeVarint(buf: Uint8Array, pos: number, n: number): number {
  while (n >= 0x80) { buf[pos++] = (n & 0x7f) | 0x80; n = Math.floor(n / 128); }
  buf[pos++] = n;
  return pos;
}

/**
 * Reads records from a file in large chunks, synchronously (it runs in a task worker thread).
 * A record may straddle chunk boundaries. `next()` moves to the next record, whose key and value
 * are then the reader's own fields: a merge of several files reads on without an object per record.
 */
export class RecordFileReader {
  /** The current record's key and value (valid after next() returned true). */
  key = '';
  value = '';
  /**
   * Whether the key has a character from U+E000 up (a byte >= 0xEE in UTF-8): only then can string
   * order differ from the order of the UTF-8 bytes (see compareKeys in partitioner.ts).
   */
  high = false;
  readonly #fd: number;
  #buf: Buffer = Buffer.alloc(0);
  #pos = 0;
  #eof = false;
  readonly #chunkBytes: number;

  constructor(path: string, chunkBytes = 1 * MB) {
    this.#fd = fs.openSync(path, 'r');
    this.#chunkBytes = chunkBytes;
  }

  #fill(need: number): boolean {
    if (this.#buf.length - this.#pos >= need) return true;
    if (this.#eof) return false;
    const rest = this.#buf.subarray(this.#pos);
    const chunk = Buffer.allocUnsafe(Math.max(this.#chunkBytes, need));
    const n = fs.readSync(this.#fd, chunk, 0, chunk.length, null);
    if (n === 0) this.#eof = true;
    this.#buf = Buffer.concat([rest, chunk.subarray(0, n)]);
    this.#pos = 0;
    return this.#fill(need);
  }

  #varint(): number {
    let n = 0;
    let mul = 1;
    for (;;) {
      if (!this.#fill(1)) throw new Error('truncated record file');
      const b = this.#buf[this.#pos++]!;
      n += (b & 0x7f) * mul;
      if (b < 0x80) return n;
      mul *= 128;
    }
  }

  /** Reads the next record into `key`, `value` and `high`; false at the end of the file. */
  next(): boolean {
    if (!this.#fill(1)) return false;
    const keyLen = this.#varint();
    if (!this.#fill(keyLen)) throw new Error('truncated record file');
    const buf = this.#buf;
    const end = this.#pos + keyLen;
    let high = false;
    for (let i = this.#pos; i < end; i++) if (buf[i]! >= 0xee) { high = true; break; }
    this.high = high;
    this.key = buf.toString('utf8', this.#pos, end);
    this.#pos = end;
    const valueLen = this.#varint();
    if (!this.#fill(valueLen)) throw new Error('truncated record file');
    this.value = this.#buf.toString('utf8', this.#pos, this.#pos + valueLen);
    this.#pos += valueLen;
    return true;
  }

  close(): void {
    fs.closeSync(this.#fd);
  }
}
