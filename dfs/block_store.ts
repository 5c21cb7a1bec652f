/**
 * Where a storage node keeps block bytes. Blocks are named by the SHA-256 of their bytes and
 * every write is verified against it. A block can be held for several owners at once (the dfs
 * itself, or the intermediate data of a job); its bytes go when the last owner lets go.
 */
import type { Digest } from '../lib/digest.ts';
import { kDfsDefaults } from '../lib/options.ts';

/** `dfs` for blocks of dfs files; a job id for that job's intermediate data. */
export type Owner = string;
export const DFS_OWNER: Owner = 'dfs';

export interface BlockInfo {
  digest: Digest;
  size: number;
  owners: Owner[];
  /**
   * When it was last stored or given an owner (again): a dfs block younger than a write may be
   * one of that write's, not yet in any file.
   */
  storedMs: number;
}

export interface BlockStore {
  /**
   * Stores the bytes of `source` as a block for `owner`. When `expectDigest` is given (or a
   * function giving it once the source is drained) and the bytes do not hash to it, nothing is
   * stored and DFS_DIGEST_MISMATCH is thrown.
   */
  put(source: AsyncIterable<Uint8Array>, owner: Owner, expectDigest?: Digest | (() => Digest)): Promise<BlockInfo>;
  /** Takes a local file whose digest the caller computed as it wrote it, moving it in. */
  adopt(file: string, digest: Digest, size: number, owner: Owner): Promise<BlockInfo>;
  get(digest: Digest): Promise<BlockInfo | undefined>;
  /**
   * The bytes of a block, from `offset` for `length` bytes (0: to the end), in chunks. When
   * `memory` is given, the caller is done with each chunk before it asks for the next, and each
   * is read into `memory(size)` (which may hand back the same memory every time), or else into
   * memory of the store's own that is reused likewise (an aligned buffer for O_DIRECT reads), or
   * is the store's own bytes if it holds them in memory already. `inMemory`: a store that reads
   * its blocks from files reads them into `memory(size)` only, for a caller that needs the bytes
   * where it put them (a server that sends each chunk from its own buffer, header in front:
   * ReadBlock).
   */
  read(digest: Digest, offset?: number, length?: number, memory?: (size: number) => Uint8Array, inMemory?: boolean): AsyncIterable<Uint8Array>;
  /** A local file holding the block's bytes, for readers in other threads; undefined if none. */
  localPath(digest: Digest): string | undefined;
  /** Adds an owner to a block already held (e.g. a committed output becomes a dfs block); it counts as stored now. */
  addOwner(digest: Digest, owner: Owner): Promise<void>;
  /**
   * Drops `owner` from every block it holds (of `digests`, when given); returns how many blocks
   * were deleted outright. With `storedBy`, a block stored (or given an owner) after that time
   * keeps `owner`: a write that came after whoever decided the release.
   */
  release(owner: Owner, digests?: Digest[], storedBy?: number): Promise<number>;
  list(): AsyncIterable<BlockInfo>;
  close(): Promise<void>;
}

/**
 * A `memory` for BlockStore.read (or FileReader.pieces) that hands back one buffer, made when
 * first asked for, for every chunk: for a reader that is done with each chunk before it asks for
 * the next (a hash, a MAC, a write that copies). Fresh memory is dear: every page of it is faulted
 * in (and zeroed) by the kernel, which on this project's VMs cost 0.8 CPU-s per GB in 1 MB
 * buffers, against 0.01 s to reuse one.
 */
export function reusedMemory(): (size: number) => Buffer {
  let scratch: Buffer | undefined;
  return (size) => {
    if (size > kDfsDefaults.chunkBytes) return Buffer.allocUnsafeSlow(size);
    scratch ??= Buffer.allocUnsafeSlow(kDfsDefaults.chunkBytes);
    return scratch.subarray(0, size);
  };
}
