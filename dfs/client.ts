/**
 * The dfs as a client sees it: put (stream a local file in as verified, replicated blocks),
 * get/cat (read back, verifying every block against the digest the job tracker keeps), ls, rm.
 * A file appears in the namespace only once every block has `replication` verified copies, and a
 * local file appears only once all of it is verified: nothing half-written is ever visible.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { createHmac, randomBytes } from 'node:crypto';
import { BftmrError, isBftmrError } from '../lib/errors.ts';
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
  /**
   * Proven copies each block must have for the put to succeed (default: `replication`). Fewer
   * than `replication` leaves the file under-replicated, for the job tracker to repair when it can
   * (HDFS's minimum replication); for internal files such as job code, never for a user's put.
   */
  minReplication?: number;
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

/** Blocks in flight at once in put and get: each goes to or comes from other nodes, in parallel. */
const BLOCKS_IN_FLIGHT = 3;

/**
 * Runs `fn(0..n-1)` with at most `width` running at once; results in index order. After a
 * failure nothing new starts; once the running ones have settled, the error of the lowest index
 * is thrown (so the same failure reads the same way every time).
 */
async function windowed<T>(n: number, width: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  const failed: { i: number; e: unknown }[] = [];
  const lane = async () => {
    while (next < n && failed.length === 0) {
      const i = next++;
      try { out[i] = await fn(i); } catch (e) { failed.push({ i, e }); }
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, n) }, lane));
  if (failed.length) throw failed.reduce((a, b) => (b.i < a.i ? b : a)).e;
  return out;
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
      // Several blocks at once, each uploaded to its own first node and then pulled by the others.
      const count = Math.max(1, Math.ceil(st.size / blockBytes));
      let done = 0;
      const blocks = await windowed(count, BLOCKS_IN_FLIGHT, async (i) => {
        const off = i * blockBytes;
        const size = Math.min(blockBytes, st.size - off);
        let last = 0;
        const { ref, replicate } = await this.#uploadBlock(target, fh, off, size, replication, opts.minReplication ?? replication, (n) => {
          done += n - last;
          last = n;
          opts.progress?.(done, st.size);
        });
        await replicate;
        return ref;
      });
      await this.#jt.call<M.CreateFileRequest, M.Empty>('CreateFile', { path: target, blocks, replication, overwrite: !!opts.overwrite }, this.#deadlineMs);
      return this.stat(target);
    } finally {
      await fh.close();
    }
  }

  /**
   * Streams bytes [off, off+size) of the local file to `target` as one block; returns its digest
   * and, when a `nonce` is given, the HMAC-SHA256 of the bytes under it (computed on the way).
   */
  async #upload(target: M.Location, fh: fsp.FileHandle, off: number, size: number, progress?: (n: number) => void, nonce?: Buffer):
    Promise<{ digest: string; mac?: Buffer }> {
    const xx = await loadXXHash();
    const hash = newHasher();
    const mac = nonce && createHmac('sha256', nonce);
    const up = this.#peers.get(target.address).upload<M.BlockChunk, M.WriteBlockReply>('WriteBlock', TRANSFER_DEADLINE_MS);
    try {
      let sent = 0;
      while (sent < size) {
        const n = Math.min(kDfsDefaults.chunkBytes, size - sent);
        const data = Buffer.allocUnsafe(n);
        const { bytesRead } = await fh.read(data, 0, n, off + sent);
        if (bytesRead !== n) throw new BftmrError('LOCAL_IO', 'the local file changed while it was being read');
        hash.update(data);
        mac?.update(data);
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
    return { digest, mac: mac?.digest() };
  }

  /** Whether `target` proves it holds the block: an HMAC under a nonce it has not seen before now. */
  async #proves(target: M.Location, digest: string, nonce: Buffer, mac: Buffer): Promise<boolean> {
    try {
      const r = await this.#peers.get(target.address).call<M.ProveBlockRequest, M.ProveBlockReply>(
        'ProveBlock', { digest, nonce }, TRANSFER_DEADLINE_MS);
      return Buffer.from(r.hmac).equals(mac);
    } catch {
      return false;
    }
  }

  /**
   * One block onto `replication` nodes: uploaded to the first, then pulled from it by the others
   * (which verify the digest). A node that cannot get verified bytes that way (the first one
   * served bad bytes, or went away) gets them from the client directly; a node that cannot take
   * them at all (it died since it was allocated) is replaced by another. The returned promise
   * settles when every copy is verified; `ref.replicas` then lists the nodes holding one.
   */
  async #uploadBlock(file: string, fh: fsp.FileHandle, off: number, size: number, replication: number, minReplication: number, progress: (n: number) => void):
    Promise<{ ref: M.BlockRef; replicate: Promise<void> }> {
    const exclude: string[] = [];
    for (let tries = 0; ; tries++) {
      const { targets } = await this.#jt.call<M.AllocateBlockRequest, M.AllocateBlockReply>(
        'AllocateBlock', { replication, exclude }, this.#deadlineMs);
      const [first, ...rest] = targets as [M.Location, ...M.Location[]];
      // A node's word that it stored the block is not enough: each copy must answer a challenge
      // under this nonce, which no node sees before the copies are made.
      const nonce = randomBytes(32);
      let digest: string;
      let mac: Buffer;
      try {
        ({ digest, mac } = (await this.#upload(first, fh, off, size, progress, nonce)) as { digest: string; mac: Buffer });
      } catch (e) {
        if (tries >= 2 || (e instanceof BftmrError && e.code === 'LOCAL_IO')) throw e;
        exclude.push(first.tracker_id);
        continue;
      }
      const copyTo = async (t: M.Location, sources: M.Location[] = [first]): Promise<boolean> => {
        try {
          const r = await this.#peers.get(t.address).call<M.PullBlockRequest, M.WriteBlockReply>(
            'PullBlock', { digest, size, sources }, TRANSFER_DEADLINE_MS);
          if (r.digest === digest) return true;
        } catch { /* fall back to the client's own copy */ }
        let uploaded: string;
        try { uploaded = (await this.#upload(t, fh, off, size)).digest; } catch (e) {
          if (e instanceof BftmrError && e.code === 'LOCAL_IO') throw e;
          return false;
        }
        if (uploaded !== digest) throw new BftmrError('LOCAL_IO', 'the local file changed while it was being read');
        return true;
      };
      const replicas: M.Location[] = [];
      const tried = new Set([...exclude, ...targets.map((t) => t.tracker_id)]);
      const refused: string[] = [];
      /** Another live node for a copy, none tried before for this block (copies are placed concurrently). */
      const another = async (): Promise<M.Location> => {
        for (;;) {
          let next: M.Location;
          try {
            ({ targets: [next] } = (await this.#jt.call<M.AllocateBlockRequest, M.AllocateBlockReply>(
              'AllocateBlock', { replication: 1, exclude: [...tried] }, this.#deadlineMs)) as { targets: [M.Location] });
          } catch (e) {
            if (!(e instanceof BftmrError) || e.code !== 'DFS_TOO_FEW_NODES') throw e;
            throw new BftmrError('DFS_TOO_FEW_NODES', `no node is left to keep a verified copy of block ${shortDigest(digest)} ` +
              `(${refused.join(', ')} did not prove ${refused.length === 1 ? 'it holds' : 'they hold'} one; ${replicas.length} of ${replication} copies are placed)`);
          }
          if (!tried.has(next.tracker_id)) { tried.add(next.tracker_id); return next; }
          tried.add(next.tracker_id);
        }
      };
      /**
       * A copy on `t`, or else on another node, kept only once it answers the challenge. Every
       * live node may be tried, so a put succeeds while `replication` nodes can prove a copy.
       */
      let shortfall: unknown;
      const place = async (t: M.Location, isFirst: boolean) => {
        for (let target = t, n = 0; ; n++) {
          const copied = isFirst && n === 0 ? true : await copyTo(target, replicas.length ? [...replicas] : [first]);
          if (copied && (await this.#proves(target, digest, nonce, mac))) { replicas.push(target); return; }
          refused.push(target.tracker_id);
          // Whatever it holds of the block is no file's copy: the job tracker has it deleted.
          if (copied) {
            await this.#jt.call<M.BadReplicaReport, M.Empty>('ReportBadReplica', { path: file, digest, tracker_id: target.tracker_id,
              error: 'did not prove it holds the copy it acknowledged', writer: true }, this.#deadlineMs).catch(() => {});
          }
          try { target = await another(); } catch (e) {
            if (!isBftmrError(e, 'DFS_TOO_FEW_NODES')) throw e;
            shortfall = e; // this copy is not made; enough others may be
            return;
          }
        }
      };
      // The first copy is proved before the others pull from it; a first node that fails is replaced.
      const replicate = place(first, true).then(() => Promise.all(rest.map((t) => place(t, false)))).then(() => {
        if (replicas.length < Math.max(1, minReplication)) throw shortfall;
      });
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

  /**
   * Writes a dfs file's verified bytes through `write` at their offsets, several blocks at once
   * (placement is random, so they mostly come from different nodes).
   */
  async #readInto(info: M.FileInfo, write: (data: Uint8Array, pos: number) => Promise<void>, progress?: Progress): Promise<void> {
    const bases: number[] = [];
    for (let i = 0, off = 0; i < info.blocks.length; off += info.blocks[i]!.size, i++) bases.push(off);
    let done = 0;
    await windowed(info.blocks.length, BLOCKS_IN_FLIGHT, async (i) => {
      const b = info.blocks[i]!;
      const base = bases[i]!;
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
            done += c.length;
            progress?.(done, info.size);
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
    });
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

