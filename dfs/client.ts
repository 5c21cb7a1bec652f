/**
 * The dfs as a client sees it: put (stream a local file in as verified, replicated blocks),
 * get/cat (read back, verifying every block against the digest the job tracker keeps), ls, rm.
 * A file appears in the namespace only once every block has `replication` verified copies, and a
 * local file appears only once all of it is verified: nothing half-written is ever visible.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { BftmrError } from '../lib/errors.ts';
import { newHasher, shortDigest } from '../lib/digest.ts';
import { RpcClient } from '../lib/rpc.ts';
import type * as M from '../lib/messages.ts';
import { kClusterDefaults, kDfsDefaults } from '../lib/options.ts';
import { loadXXHash } from '../lib/xxhash.ts';
import { fetchBlock, TRANSFER_DEADLINE_MS, type FetchFailure } from './block_transfer.ts';
import { normalizePath } from './dfs_path.ts';
import { Peers } from './peers.ts';

export type Progress = (doneBytes: number, totalBytes: number) => void;

export interface PutOptions {
  replication?: number;
  blockBytes?: number;
  overwrite?: boolean;
  progress?: Progress;
}

/** Opens a local file, or says in one sentence why not. */
async function openLocal(file: string, flags: 'r' | 'w', verb: string, shown = file): Promise<fsp.FileHandle> {
  try {
    return await fsp.open(file, flags);
  } catch (e) {
    throw new BftmrError('LOCAL_IO', `cannot ${verb} ${shown}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
}

export class DfsClient {
  readonly #jt: RpcClient;
  readonly #peers = new Peers();
  readonly #deadlineMs = kClusterDefaults.rpcDeadlineMs;

  constructor(jobTrackerAddress: string) {
    this.#jt = new RpcClient('JobTracker', jobTrackerAddress);
  }

  get jobTracker(): RpcClient {
    return this.#jt;
  }

  /** Storage nodes currently alive and trusted. */
  async liveNodes(): Promise<number> {
    const st = await this.#jt.call<M.Empty, M.ClusterStatusReply>('ClusterStatus', {}, this.#deadlineMs);
    return st.trackers.filter((t) => t.alive && !t.blacklisted).length;
  }

  /** Per file at or below `p`: each block's live verified replicas against the wanted number. */
  async fsck(p: string): Promise<M.FsckFile[]> {
    const r = await this.#jt.call<M.PathRequest, M.FsckReply>('Fsck', { path: normalizePath(p), recursive: true }, this.#deadlineMs);
    return r.files;
  }

  /** Trackers by id, with whether they are alive and trusted (to show where replicas live). */
  async trackers(): Promise<Map<string, M.TrackerInfo>> {
    const st = await this.#jt.call<M.Empty, M.ClusterStatusReply>('ClusterStatus', {}, this.#deadlineMs);
    return new Map(st.trackers.map((t) => [t.tracker_id, t]));
  }

  stat(p: string): Promise<M.FileInfo> {
    return this.#jt.call<M.PathRequest, M.FileInfo>('GetFile', { path: normalizePath(p), recursive: false }, this.#deadlineMs);
  }

  async exists(p: string): Promise<boolean> {
    try { await this.stat(p); return true; } catch (e) {
      if (e instanceof BftmrError && e.code === 'DFS_NOT_FOUND') return false;
      throw e;
    }
  }

  async list(p: string, recursive = false): Promise<M.FileInfo[]> {
    const r = await this.#jt.call<M.PathRequest, M.ListReply>('List', { path: normalizePath(p), recursive }, this.#deadlineMs);
    return r.entries;
  }

  async rm(p: string, recursive = false): Promise<number> {
    const r = await this.#jt.call<M.DeleteRequest, M.DeleteReply>('Delete', { path: normalizePath(p), recursive }, this.#deadlineMs);
    return r.files_deleted;
  }

  /** Streams a local file into the dfs. */
  async put(local: string, dfsPath: string, opts: PutOptions = {}): Promise<M.FileInfo> {
    const target = normalizePath(dfsPath);
    const replication = opts.replication ?? kDfsDefaults.replication;
    const blockBytes = opts.blockBytes ?? kDfsDefaults.blockBytes;
    if (!Number.isInteger(replication) || replication < 1) throw new BftmrError('JOB_BAD_ARGUMENT', `replication must be a whole number >= 1, not ${replication}`);
    const fh = await openLocal(local, 'r', 'read');
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new BftmrError('LOCAL_IO', `${local} is not a regular file`);
      if (!opts.overwrite && (await this.exists(target))) throw new BftmrError('DFS_EXISTS', `${target} already exists (use --force to replace it)`);
      const blocks: M.BlockRef[] = [];
      let done = 0;
      // One block's replication runs while the next block uploads.
      let pending: Promise<void> = Promise.resolve();
      for (let off = 0; off < st.size || (st.size === 0 && blocks.length === 0); off += blockBytes) {
        const size = Math.min(blockBytes, st.size - off);
        const { ref, replicate } = await this.#uploadBlock(fh, off, size, replication, (n) => opts.progress?.(done + n, st.size));
        done += size;
        await pending;
        blocks.push(ref);
        pending = replicate;
        if (st.size === 0) break;
      }
      await pending;
      await this.#jt.call<M.CreateFileRequest, M.Empty>('CreateFile', { path: target, blocks, replication, overwrite: !!opts.overwrite }, this.#deadlineMs);
      return this.stat(target);
    } finally {
      await fh.close();
    }
  }

  /** Streams bytes [off, off+size) of the local file to `target` as one block; returns its digest. */
  async #upload(target: M.Location, fh: fsp.FileHandle, off: number, size: number, progress?: (n: number) => void): Promise<string> {
    const xx = await loadXXHash();
    const hash = newHasher();
    const up = this.#peers.get(target.address).upload<M.BlockChunk, M.WriteBlockReply>('WriteBlock', TRANSFER_DEADLINE_MS);
    try {
      let sent = 0;
      while (sent < size) {
        const n = Math.min(kDfsDefaults.chunkBytes, size - sent);
        const data = Buffer.allocUnsafe(n);
        const { bytesRead } = await fh.read(data, 0, n, off + sent);
        if (bytesRead !== n) throw new BftmrError('LOCAL_IO', 'the local file changed while it was being read');
        hash.update(data);
        await up.write({ data, xxh32: xx.h32(data), digest: '', last: false });
        sent += n;
        progress?.(sent);
      }
    } catch (e) {
      up.cancel();
      throw e;
    }
    const digest = hash.digest('hex');
    await up.write({ data: Buffer.alloc(0), xxh32: xx.h32(Buffer.alloc(0)), digest, last: true });
    const ack = await up.finish();
    if (ack.digest !== digest) throw new BftmrError('DFS_DIGEST_MISMATCH', `${target.tracker_id} stored ${shortDigest(ack.digest)}, not ${shortDigest(digest)}`);
    return digest;
  }

  /**
   * One block onto `replication` nodes: uploaded to the first, then pulled from it by the others
   * (which verify the digest). A node that cannot get verified bytes that way (the first one
   * served bad bytes, or went away) gets them from the client directly; a node that cannot take
   * them at all (it died since it was allocated) is replaced by another. The returned promise
   * settles when every copy is verified; `ref.replicas` then lists the nodes holding one.
   */
  async #uploadBlock(fh: fsp.FileHandle, off: number, size: number, replication: number, progress: (n: number) => void):
    Promise<{ ref: M.BlockRef; replicate: Promise<void> }> {
    const exclude: string[] = [];
    for (let tries = 0; ; tries++) {
      const { targets } = await this.#jt.call<M.AllocateBlockRequest, M.AllocateBlockReply>(
        'AllocateBlock', { replication, exclude }, this.#deadlineMs);
      const [first, ...rest] = targets as [M.Location, ...M.Location[]];
      let digest: string;
      try {
        digest = await this.#upload(first, fh, off, size, progress);
      } catch (e) {
        if (tries >= 2 || (e instanceof BftmrError && e.code === 'LOCAL_IO')) throw e;
        exclude.push(first.tracker_id);
        continue;
      }
      const copyTo = async (t: M.Location): Promise<boolean> => {
        try {
          const r = await this.#peers.get(t.address).call<M.PullBlockRequest, M.WriteBlockReply>(
            'PullBlock', { digest, size, sources: [first] }, TRANSFER_DEADLINE_MS);
          if (r.digest === digest) return true;
        } catch { /* fall back to the client's own copy */ }
        let uploaded: string;
        try { uploaded = await this.#upload(t, fh, off, size); } catch (e) {
          if (e instanceof BftmrError && e.code === 'LOCAL_IO') throw e;
          return false;
        }
        if (uploaded !== digest) throw new BftmrError('LOCAL_IO', 'the local file changed while it was being read');
        return true;
      };
      const replicas: M.Location[] = [first];
      const tried = new Set([...exclude, ...targets.map((t) => t.tracker_id)]);
      const replicate = Promise.all(rest.map(async (t) => {
        for (let target = t, n = 0; ; n++) {
          if (await copyTo(target)) { replicas.push(target); return; }
          if (n >= 2) throw new BftmrError('DFS_TOO_FEW_NODES', `no node would take a copy of block ${shortDigest(digest)} (last tried ${target.tracker_id})`);
          const { targets: [next] } = await this.#jt.call<M.AllocateBlockRequest, M.AllocateBlockReply>(
            'AllocateBlock', { replication: 1, exclude: [...tried] }, this.#deadlineMs);
          tried.add(next!.tracker_id);
          target = next!;
        }
      })).then(() => undefined);
      replicate.catch(() => {}); // awaited by put(); never an unhandled rejection meanwhile
      return { ref: { digest, size, replicas }, replicate };
    }
  }

  /**
   * Tells the job tracker which replicas served bytes that do not match, or said they do not hold
   * the block (read repair). It checks them itself before it believes us. Unreachable nodes are
   * not reported: the job tracker sees that from their heartbeats.
   */
  async #reportBad(path: string, digest: string, failures: FetchFailure[]): Promise<void> {
    for (const f of failures) {
      if (!f.badBytes && !f.missing) continue;
      await this.#jt.call<M.BadReplicaReport, M.Empty>('ReportBadReplica',
        { path, digest, tracker_id: f.source.tracker_id, error: f.error }, this.#deadlineMs).catch(() => {});
    }
  }

  /** Writes a dfs file's verified bytes to `fd` at its offsets, block by block. */
  async #readInto(info: M.FileInfo, write: (data: Uint8Array, pos: number) => Promise<void>, progress?: Progress): Promise<void> {
    let off = 0;
    for (const [i, b] of info.blocks.entries()) {
      const base = off;
      if (b.replicas.length === 0) {
        throw new BftmrError('DFS_NO_REPLICA', `${info.path}, block ${i} (${shortDigest(b.digest)}): no verified copy is left`);
      }
      try {
        const { failures } = await fetchBlock(this.#peers, b, async (chunks) => {
          const hash = newHasher();
          let pos = base;
          for await (const c of chunks) {
            if (pos - base + c.length > b.size) {
              // Never written: it would land on the next block's bytes, or past the end of the file.
              throw new BftmrError('DFS_DIGEST_MISMATCH', `served more than the ${b.size} bytes of block ${shortDigest(b.digest)}`);
            }
            hash.update(c);
            await write(c, pos);
            pos += c.length;
            progress?.(pos, info.size);
          }
          const got = hash.digest('hex');
          if (got !== b.digest || pos - base !== b.size) {
            throw new BftmrError('DFS_DIGEST_MISMATCH', `served bytes hash to ${shortDigest(got)}, not ${shortDigest(b.digest)}`);
          }
        });
        await this.#reportBad(info.path, b.digest, failures);
      } catch (e) {
        await this.#reportBad(info.path, b.digest, (e as { failures?: FetchFailure[] }).failures ?? []);
        if (e instanceof BftmrError && e.code === 'DFS_NO_REPLICA') {
          throw new BftmrError('DFS_NO_REPLICA', `${info.path}, block ${i} (${shortDigest(b.digest)}): ${e.message}`);
        }
        throw e;
      }
      off += b.size;
    }
  }

  /** Copies a dfs file, or a directory recursively, to the local file system. */
  async get(dfsPath: string, local: string, progress?: Progress): Promise<string[]> {
    const info = await this.stat(dfsPath);
    if (!info.is_dir) {
      let dest = local;
      if (fs.existsSync(local) && fs.statSync(local).isDirectory()) dest = path.join(local, path.posix.basename(info.path));
      await this.#getFile(info, dest, progress);
      return [dest];
    }
    // cp -r semantics: into an existing directory, the source directory goes inside it.
    const root = fs.existsSync(local) ? path.join(local, path.posix.basename(info.path) || 'root') : local;
    const files = (await this.list(info.path, true)).filter((e) => !e.is_dir);
    const written: string[] = [];
    for (const f of files) {
      const dest = path.join(root, ...path.posix.relative(info.path, f.path).split('/'));
      await fsp.mkdir(path.dirname(dest), { recursive: true });
      await this.#getFile(f, dest, progress);
      written.push(dest);
    }
    if (files.length === 0) await fsp.mkdir(root, { recursive: true });
    return written;
  }

  async #getFile(info: M.FileInfo, dest: string, progress?: Progress): Promise<void> {
    const tmp = `${dest}.bftmr-partial-${process.pid}`;
    const fh = await openLocal(tmp, 'w', 'write', dest);
    try {
      await this.#readInto(info, async (data, pos) => { await fh.write(data, 0, data.length, pos); }, progress);
      await fh.truncate(info.size);
      await fh.close();
      await fsp.rename(tmp, dest);
    } catch (e) {
      await fh.close().catch(() => {});
      await fsp.rm(tmp, { force: true });
      throw e;
    }
  }

  /** Writes a file's bytes to `out`; each block is verified before any of it is written. */
  async cat(dfsPath: string, out: NodeJS.WritableStream): Promise<void> {
    const info = await this.stat(dfsPath);
    if (info.is_dir) throw new BftmrError('DFS_BAD_PATH', `${info.path} is a directory`);
    for (const b of info.blocks) {
      const one: M.FileInfo = { ...info, size: b.size, blocks: [b] };
      const buf = Buffer.allocUnsafe(b.size);
      await this.#readInto(one, async (data, pos) => { buf.set(data, pos); });
      if (!out.write(buf)) await new Promise((r) => out.once('drain', r));
    }
  }

  close(): void {
    this.#peers.close();
    this.#jt.close();
  }
}

