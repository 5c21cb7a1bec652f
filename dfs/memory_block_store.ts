/** A block store in memory, for unit tests and the simulator; same contract as the real one. */
import fsp from 'node:fs/promises';
import { BftmrError } from '../lib/errors.ts';
import { newHasher, type Digest } from '../lib/digest.ts';
import type { BlockInfo, BlockStore, Owner } from './block_store.ts';

const CHUNK_BYTES = 64 * 1024;

export class MemoryBlockStore implements BlockStore {
  readonly #blocks = new Map<Digest, { bytes: Buffer; owners: Owner[]; storedMs: number }>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  async put(source: AsyncIterable<Uint8Array>, owner: Owner, expectDigest?: Digest | (() => Digest)): Promise<BlockInfo> {
    const hash = newHasher();
    const parts: Buffer[] = [];
    for await (const chunk of source) { hash.update(chunk); parts.push(Buffer.from(chunk)); }
    const digest = hash.digest('hex');
    const expected = typeof expectDigest === 'function' ? expectDigest() : expectDigest;
    if (expected !== undefined && digest !== expected) {
      throw new BftmrError('DFS_DIGEST_MISMATCH', `block bytes hash to ${digest}, not ${expected}`);
    }
    return this.#hold(digest, Buffer.concat(parts), owner);
  }

  async adopt(file: string, digest: Digest, _size: number, owner: Owner): Promise<BlockInfo> {
    const bytes = await fsp.readFile(file);
    await fsp.rm(file, { force: true });
    return this.#hold(digest, bytes, owner);
  }

  #hold(digest: Digest, bytes: Buffer, owner: Owner): BlockInfo {
    const b = this.#blocks.get(digest) ?? { bytes, owners: [], storedMs: 0 };
    if (!b.owners.includes(owner)) b.owners.push(owner);
    b.storedMs = this.#now();
    this.#blocks.set(digest, b);
    return { digest, size: b.bytes.length, owners: [...b.owners], storedMs: b.storedMs };
  }

  async get(digest: Digest): Promise<BlockInfo | undefined> {
    const b = this.#blocks.get(digest);
    return b && { digest, size: b.bytes.length, owners: [...b.owners], storedMs: b.storedMs };
  }

  async *read(digest: Digest, offset = 0, length = 0): AsyncGenerator<Uint8Array> {
    const b = this.#blocks.get(digest);
    if (!b) throw new BftmrError('DFS_NOT_FOUND', `block ${digest} is not held here`);
    const end = length > 0 ? Math.min(b.bytes.length, offset + length) : b.bytes.length;
    for (let pos = offset; pos < end; pos += CHUNK_BYTES) yield b.bytes.subarray(pos, Math.min(end, pos + CHUNK_BYTES));
  }

  localPath(): string | undefined {
    return undefined;
  }

  async addOwner(digest: Digest, owner: Owner): Promise<void> {
    const b = this.#blocks.get(digest);
    if (!b) throw new BftmrError('DFS_NOT_FOUND', `block ${digest} is not held here`);
    if (!b.owners.includes(owner)) b.owners.push(owner);
    b.storedMs = this.#now();
  }

  async release(owner: Owner, digests?: Digest[], storedBy = Infinity): Promise<number> {
    let deleted = 0;
    for (const digest of digests ?? [...this.#blocks.keys()]) {
      const b = this.#blocks.get(digest);
      if (!b || !b.owners.includes(owner) || b.storedMs > storedBy) continue;
      b.owners = b.owners.filter((o) => o !== owner);
      if (b.owners.length === 0) { this.#blocks.delete(digest); deleted++; }
    }
    return deleted;
  }

  async *list(): AsyncGenerator<BlockInfo> {
    for (const [digest, b] of this.#blocks) yield { digest, size: b.bytes.length, owners: [...b.owners], storedMs: b.storedMs };
  }

  async close(): Promise<void> {}
}
