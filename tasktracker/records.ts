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

/** One record as the reader yields it: the key as bytes (for comparison), the value as a string. */
export interface RawRecord {
  key: Buffer;
  value: string;
}

/**
 * Reads records from a file in large chunks, synchronously (it runs in a task worker thread).
 * A record may straddle chunk boundaries.
 */
export class RecordFileReader {
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

  next(): RawRecord | undefined {
    if (!this.#fill(1)) return undefined;
    const keyLen = this.#varint();
    if (!this.#fill(keyLen)) throw new Error('truncated record file');
    const key = Buffer.from(this.#buf.subarray(this.#pos, this.#pos + keyLen));
    this.#pos += keyLen;
    const valueLen = this.#varint();
    if (!this.#fill(valueLen)) throw new Error('truncated record file');
    const value = this.#buf.toString('utf8', this.#pos, this.#pos + valueLen);
    this.#pos += valueLen;
    return { key, value };
  }

  close(): void {
    fs.closeSync(this.#fd);
  }
}
