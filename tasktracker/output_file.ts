/**
 * A file written through a large buffer while its SHA-256 is computed, so a task's output is
 * hashed in the same pass that writes it (synchronous: it runs in a task worker thread).
 */
import fs from 'node:fs';
import { newHasher, type Digest } from '../lib/digest.ts';
import { MB } from '../lib/options.ts';

export class OutputFile {
  readonly #fd: number;
  readonly #hash = newHasher();
  readonly #buf: Buffer;
  #len = 0;
  #size = 0;

  constructor(readonly path: string, bufferBytes = 1 * MB) {
    this.#fd = fs.openSync(path, 'w');
    this.#buf = Buffer.allocUnsafe(bufferBytes);
  }

  /** Room for at least `n` more bytes in the buffer, flushing if needed. */
  reserve(n: number): { buf: Buffer; pos: number } | undefined {
    if (this.#len + n > this.#buf.length) this.flush();
    return n <= this.#buf.length ? { buf: this.#buf, pos: this.#len } : undefined;
  }

  /** Marks `n` bytes written at the position `reserve` returned. */
  advance(n: number): void {
    this.#len += n;
  }

  writeString(s: string): void {
    const max = s.length * 3;
    const r = this.reserve(max);
    if (r) { this.#len += this.#buf.write(s, r.pos, 'utf8'); return; }
    this.writeBytes(Buffer.from(s, 'utf8'));
  }

  writeBytes(b: Uint8Array): void {
    if (this.#len + b.length <= this.#buf.length) { this.#buf.set(b, this.#len); this.#len += b.length; return; }
    this.flush();
    this.#hash.update(b);
    fs.writeSync(this.#fd, b);
    this.#size += b.length;
  }

  flush(): void {
    if (this.#len === 0) return;
    const data = this.#buf.subarray(0, this.#len);
    this.#hash.update(data);
    let off = 0;
    while (off < data.length) off += fs.writeSync(this.#fd, data, off);
    this.#size += this.#len;
    this.#len = 0;
  }

  /** Gives the file up (a task that failed): closed and removed, its bytes never hashed. */
  discard(): void {
    try { fs.closeSync(this.#fd); } catch { /* closed already */ }
    fs.rmSync(this.path, { force: true });
  }

  close(): { digest: Digest; size: number } {
    this.flush();
    fs.closeSync(this.#fd);
    return { digest: this.#hash.digest('hex'), size: this.#size };
  }
}
