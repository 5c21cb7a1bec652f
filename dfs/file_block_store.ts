/**
 * The block store of a real storage node: bytes in files (blocks/ab/abcd…), so task worker
 * threads can read them directly, and metadata (size, owners) in level (meta/).
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { BftmrError } from '../lib/errors.ts';
import { FileReader, FileWriter } from '../lib/direct_io.ts';
import { isDigest, newHasher, type Digest } from '../lib/digest.ts';
import { Kv } from '../lib/kv.ts';
import { kDfsDefaults } from '../lib/options.ts';
import type { BlockInfo, BlockStore, Owner } from './block_store.ts';

/** storedMs: see BlockInfo (0 in metadata written before it was kept). */
interface Meta { size: number; owners: Owner[]; storedMs?: number }

const CHUNK_BYTES = kDfsDefaults.chunkBytes;

export class FileBlockStore implements BlockStore {
  readonly #dir: string;
  readonly #meta: Kv<Meta>;
  readonly #locks = new Map<Digest, Promise<unknown>>();
  readonly #now: () => number;

  private constructor(dir: string, meta: Kv<Meta>, now: () => number) {
    this.#dir = dir;
    this.#meta = meta;
    this.#now = now;
  }

  static async open(dir: string, now: () => number = Date.now): Promise<FileBlockStore> {
    await fsp.mkdir(path.join(dir, 'blocks'), { recursive: true });
    await fsp.rm(path.join(dir, 'incoming'), { recursive: true, force: true });
    await fsp.mkdir(path.join(dir, 'incoming'), { recursive: true });
    return new FileBlockStore(dir, await Kv.open<Meta>(path.join(dir, 'meta')), now);
  }

  static #info(digest: Digest, meta: Meta): BlockInfo {
    return { digest, size: meta.size, owners: meta.owners, storedMs: meta.storedMs ?? 0 };
  }

  #file(digest: Digest): string {
    if (!isDigest(digest)) throw new BftmrError('DFS_BAD_PATH', `not a block digest: ${digest}`);
    return path.join(this.#dir, 'blocks', digest.slice(0, 2), digest);
  }

  /** A fresh path for a file being written; it is moved in by adopt(). */
  tempPath(): string {
    return path.join(this.#dir, 'incoming', randomBytes(8).toString('hex'));
  }

  /** Serialises metadata updates of one block. */
  #locked<T>(digest: Digest, fn: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(digest) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => {});
    this.#locks.set(digest, tail);
    tail.then(() => { if (this.#locks.get(digest) === tail) this.#locks.delete(digest); });
    return next;
  }

  async put(source: AsyncIterable<Uint8Array>, owner: Owner, expectDigest?: Digest | (() => Digest)): Promise<BlockInfo> {
    const tmp = this.tempPath();
    const hash = newHasher();
    let size = 0;
    const out = await FileWriter.open(tmp, 0, { create: true });
    try {
      for await (const chunk of source) {
        hash.update(chunk);
        size += chunk.length;
        await out.write(chunk);
      }
      await out.close(true);
    } catch (e) {
      await out.abort();
      await fsp.rm(tmp, { force: true });
      throw e;
    }
    const digest = hash.digest('hex');
    const expected = typeof expectDigest === 'function' ? expectDigest() : expectDigest;
    if (expected !== undefined && digest !== expected) {
      await fsp.rm(tmp, { force: true });
      throw new BftmrError('DFS_DIGEST_MISMATCH', `block bytes hash to ${digest}, not ${expected}`);
    }
    return this.adopt(tmp, digest, size, owner);
  }

  adopt(file: string, digest: Digest, size: number, owner: Owner): Promise<BlockInfo> {
    const target = this.#file(digest);
    return this.#locked(digest, async () => {
      const meta = await this.#meta.get(digest);
      if (meta && isRegularFile(target)) {
        await fsp.rm(file, { force: true });
        if (!meta.owners.includes(owner)) meta.owners.push(owner);
        meta.storedMs = this.#now();
        await this.#meta.put(digest, meta);
        return FileBlockStore.#info(digest, meta);
      }
      await fsp.mkdir(path.dirname(target), { recursive: true });
      // Whatever took the block's name (a directory, say) makes way for its bytes.
      await fsp.rm(target, { recursive: true, force: true });
      await fsp.rename(file, target);
      // Bytes that had gone missing come back; the block keeps the owners it had.
      const fresh = { size, owners: [...new Set([...(meta?.owners ?? []), owner])], storedMs: this.#now() };
      await this.#meta.put(digest, fresh);
      return FileBlockStore.#info(digest, fresh);
    });
  }

  async get(digest: Digest): Promise<BlockInfo | undefined> {
    const meta = await this.#meta.get(digest);
    return meta && FileBlockStore.#info(digest, meta);
  }

  async *read(digest: Digest, offset = 0, length = 0, memory?: (size: number) => Uint8Array, inMemory = false): AsyncGenerator<Uint8Array> {
    const meta = await this.#meta.get(digest);
    if (!meta) throw new BftmrError('DFS_NOT_FOUND', `block ${digest} is not held here`);
    const end = length > 0 ? Math.min(meta.size, offset + length) : meta.size;
    if (offset >= end) return;
    // A reader that is done with each chunk before the next (a proof, the scrubber) reads around
    // the page cache (lib/direct_io.ts): the bytes are used once, and then not cached for nothing.
    // One that wants them in its own memory reads through it: an O_DIRECT read lands in the
    // reader's aligned stages, and a server would copy each piece into a fresh message buffer.
    let reader: FileReader;
    try {
      // Opened as a file someone may have tampered with: a FIFO or a directory put where the block
      // was must not hold the node's thread for good, nor a symbolic link lead it elsewhere.
      reader = await FileReader.open(this.#file(digest), { direct: memory !== undefined && !inMemory, untrusted: true });
    } catch (e) {
      // The metadata claims the block but its bytes are gone (or are no longer a file of their
      // own): to a reader that is "not held", as to the scrubber, which reports it.
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new BftmrError('DFS_NOT_FOUND', `the bytes of block ${digest} are gone`);
      if (code === 'ENOTREG' || code === 'ELOOP' || code === 'EISDIR') throw new BftmrError('DFS_NOT_FOUND', `the bytes of block ${digest} are gone: its file is not a regular file`);
      throw e;
    }
    try {
      // A file shorter than its metadata says ends early: the reader's digest check tells.
      yield* reader.pieces(offset, end, memory ?? ((n) => Buffer.allocUnsafeSlow(n)), CHUNK_BYTES);
    } finally {
      await reader.close();
    }
  }

  localPath(digest: Digest): string | undefined {
    const file = this.#file(digest);
    // Only a regular file of its own: a map task's thread opens it plainly.
    return isRegularFile(file) ? file : undefined;
  }

  addOwner(digest: Digest, owner: Owner): Promise<void> {
    return this.#locked(digest, async () => {
      const meta = await this.#meta.get(digest);
      if (!meta) throw new BftmrError('DFS_NOT_FOUND', `block ${digest} is not held here`);
      if (!meta.owners.includes(owner)) meta.owners.push(owner);
      meta.storedMs = this.#now();
      await this.#meta.put(digest, meta);
    });
  }

  async release(owner: Owner, digests?: Digest[], storedBy = Infinity): Promise<number> {
    const candidates: Digest[] = [];
    if (digests) candidates.push(...digests);
    else for await (const [digest, meta] of this.#meta.scan('')) if (meta.owners.includes(owner)) candidates.push(digest);
    let deleted = 0;
    for (const digest of candidates) {
      await this.#locked(digest, async () => {
        const meta = await this.#meta.get(digest);
        if (!meta || !meta.owners.includes(owner) || (meta.storedMs ?? 0) > storedBy) return;
        meta.owners = meta.owners.filter((o) => o !== owner);
        if (meta.owners.length > 0) { await this.#meta.put(digest, meta); return; }
        await this.#meta.del(digest);
        await fsp.rm(this.#file(digest), { recursive: true, force: true }); // a directory put in its place too
        deleted++;
      });
    }
    return deleted;
  }

  async *list(): AsyncGenerator<BlockInfo> {
    for await (const [digest, meta] of this.#meta.scan('')) yield FileBlockStore.#info(digest, meta);
  }

  close(): Promise<void> {
    return this.#meta.close();
  }
}

/** Whether `file` is a regular file itself (not a symbolic link to one). */
function isRegularFile(file: string): boolean {
  return fs.lstatSync(file, { throwIfNoEntry: false })?.isFile() ?? false;
}
