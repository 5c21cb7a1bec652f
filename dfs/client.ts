/**
 * The dfs as a client sees it: put (stream a local file in as verified, replicated blocks),
 * get/cat (read back, verifying every block against the digest the job tracker keeps), ls, rm.
 * A file appears in the namespace only once every block has `replication` verified copies, and a
 * local file appears only once all of it is verified: nothing half-written is ever visible.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BftmrError, ioReason, isBftmrError, messageOf } from '../lib/errors.ts';
import { newHasher, shortDigest } from '../lib/digest.ts';
import { FileWriter } from '../lib/direct_io.ts';
import { PieceHasher } from '../lib/piece_hasher.ts';
import { newNonce, newProofMac } from '../lib/proof.ts';
import { isTransportFailure, RpcClient } from '../lib/rpc.ts';
import type * as M from '../lib/messages.ts';
import { BLOCK_HEAD_BYTES, kClusterDefaults, kDfsDefaults } from '../lib/options.ts';
import { loadXXHash } from '../lib/xxhash.ts';
import { kSourcePace, sourceAllowanceMs, WaitWatch } from '../lib/source_pace.ts';
import { fetchBlock, readOrder, TRANSFER_DEADLINE_MS, type FetchFailure } from './block_transfer.ts';
import { reusedMemory } from './block_store.ts';
import { chunkBuffer, chunkSent, encodeChunk } from './chunk_codec.ts';
import { normalizePath } from './dfs_path.ts';
import { compileGlob, globMatches, hasGlob, unescapeGlob } from './glob.ts';
import { Peers } from './peers.ts';
import { shortCircuit, type LocalRead } from './short_circuit.ts';
import { holdScratch, makeScratchDir, removeScratchDir } from '../lib/scratch.ts';
import { onThisHost } from '../lib/hosts.ts';
import { HandOverLinks } from './hand_over.ts';

/** `totalBytes` is undefined while it is not known (a put of a stream). */
export type Progress = (doneBytes: number, totalBytes: number | undefined) => void;

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
async function openLocal(file: string, flags: 'r' | 'w' | 'w+' | number, verb: string, shown = file): Promise<fsp.FileHandle> {
  try {
    return await fsp.open(file, flags);
  } catch (e) {
    throw new BftmrError('LOCAL_IO', `cannot ${verb} ${shown}: ${ioReason(e)}`);
  }
}

type LocalTarget = { kind: 'file' | 'stream'; path: string };

/**
 * Where a get writes the bytes meant for `dest`: a regular file (new, or replaced with
 * `overwrite`) through a temporary file beside it and a rename, so nothing half-written is ever
 * seen there; a FIFO or a device is written into, in order, as cp -f does (a rename would put a
 * regular file in its place: as root, in place of /dev/null). Anything else is refused.
 */
function localTarget(dest: string, overwrite: boolean): LocalTarget {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(dest);
  } catch {
    return { kind: 'file', path: dest }; // not there (a path below a file fails when it is written, and says why)
  }
  // lstat: a dangling symbolic link is there too, and not replaced unless asked.
  if (!overwrite) throw new BftmrError('DFS_EXISTS', `${dest} already exists (use -f to replace it)`);
  let real = dest;
  if (st.isSymbolicLink()) {
    // As cp -f: the file the link names gets the bytes, in its own directory, and the link stays.
    try {
      real = fs.realpathSync(dest);
      st = fs.statSync(real);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new BftmrError('LOCAL_IO', `cannot follow the symbolic link ${dest}: ${ioReason(e)}`);
      const to = (() => { try { return fs.readlinkSync(dest); } catch { return '?'; } })();
      throw new BftmrError('LOCAL_IO', `${dest} is a symbolic link to ${to}, which does not exist`);
    }
  }
  if (st.isFile()) return { kind: 'file', path: real };
  if (st.isFIFO() || st.isCharacterDevice() || st.isBlockDevice()) return { kind: 'stream', path: real };
  const what = st.isDirectory() ? 'a directory' : st.isSocket() ? 'a socket' : 'not a regular file';
  throw new BftmrError('LOCAL_IO', `${dest}${real !== dest ? ` (${real})` : ''} is ${what}: it is not replaced`);
}

/** statfs types of file systems whose files' sizes are not their contents' (0, or a page). */
const PSEUDO_FILE_SYSTEMS = new Set([
  0x9fa0, // proc
  0x62656572, // sysfs
  0x64626720, // debugfs
  0x74726163, // tracefs
  0x62656570, // configfs
  0x73636673, // securityfs
  0x27e0eb, // cgroup
  0x63677270, // cgroup2
]);

/** Whether a local file's size is not known until it is read: a pseudo file system's, or one that says it is empty and is not. */
async function sizeUnknown(file: string, fh: fsp.FileHandle, size: number): Promise<boolean> {
  const type = await fsp.statfs(file).then((s) => s.type, () => undefined);
  if (type !== undefined && PSEUDO_FILE_SYSTEMS.has(type)) return true;
  return size === 0 && (await fh.read(Buffer.alloc(1), 0, 1, 0).catch(() => ({ bytesRead: 0 }))).bytesRead > 0;
}

const localFileChanged = () => new BftmrError('LOCAL_IO', 'the local file changed while it was being read');

/**
 * Bytes [off, off+size) of a local file, in pieces of at most one transfer chunk, each read into
 * `memory(n)`: fresh chunk buffers (dfs/chunk_codec.ts) for an upload, which encodes them in
 * place; for a reader done with each piece before it asks for the next, one buffer reused
 * (reusedMemory, dfs/block_store.ts).
 */
async function* localChunks(fh: fsp.FileHandle, off: number, size: number, memory: (n: number) => Buffer = chunkBuffer): AsyncGenerator<Buffer> {
  for (let at = 0; at < size;) {
    const n = Math.min(kDfsDefaults.chunkBytes, size - at);
    const data = memory(n);
    const { bytesRead } = await fh.read(data, 0, n, off + at);
    if (bytesRead !== n) throw localFileChanged();
    yield data;
    at += n;
  }
}

interface Challenge { nonce: Buffer; mac: Buffer }

/** One block of a put: bytes [off, off+size) of the local file. */
interface BlockToPut {
  file: string;
  index: number;
  fh: fsp.FileHandle;
  off: number;
  size: number;
  /** The local file's path, and the put's hand-over links (dfs/hand_over.ts): it may go to a node on this host through a link. */
  path?: string;
  links?: HandOverLinks;
  replication: number;
  minReplication: number;
  /** Set when another block of the put failed: stop placing copies. */
  signal: AbortSignal;
  /** Sources that served a node pulling a copy bytes not matching the digest, or denied holding it, by `tracker|digest`. */
  accused: Map<string, Accusation>;
}

interface Accusation { digest: string; tracker_id: string; puller: string; error: string }

/** How often a put tries a node that went silent for one block, when no other node is left (a freeze may pass). */
const SILENT_TRIES = 3;

/** Blocks in flight at once in put and get: each goes to or comes from other nodes, in parallel. */
const BLOCKS_IN_FLIGHT = 3;

/**
 * Runs `fn(0..n-1)` with at most `width` running at once; results in index order. After a
 * failure nothing new starts; once the running ones have settled, the error of the lowest index
 * is thrown (so the same failure reads the same way every time).
 */
function windowed<T>(n: number, width: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  return windowedStream((function* () { for (let i = 0; i < n; i++) yield i; })(), width, fn);
}

/**
 * windowed over the items `source` yields, taken as they come (a stream's blocks): `fn(item, i)`
 * with at most `width` running at once. The source is not asked for more after a failure, and is
 * closed only once every started `fn` has settled; a failure of the source itself comes last.
 */
async function windowedStream<S, T>(source: Iterable<S> | AsyncIterable<S>, width: number, fn: (item: S, i: number) => Promise<T>): Promise<T[]> {
  const it = Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : source[Symbol.iterator]();
  const out: T[] = [];
  const failed: { i: number; e: unknown }[] = [];
  const running = new Set<Promise<void>>();
  let sourceError: { e: unknown } | undefined;
  try {
    for (let i = 0; failed.length === 0; i++) {
      const next = await it.next();
      if (next.done) break;
      const p: Promise<void> = fn(next.value, i).then((r) => { out[i] = r; }, (e) => { failed.push({ i, e }); }).finally(() => running.delete(p));
      running.add(p);
      if (running.size >= width) await Promise.race(running);
    }
  } catch (e) {
    sourceError = { e };
  }
  await Promise.all(running);
  await it.return?.();
  if (failed.length) throw failed.reduce((a, b) => (b.i < a.i ? b : a)).e;
  if (sourceError) throw sourceError.e;
  return out;
}

/** A block of a put stopped because another block failed (the put fails with that one's error). */
class PutGivenUp extends Error {}

/**
 * Bytes [off, off+size) of a local file (`path`, when a node may be handed them through a link to
 * it): one block of a put; `release` when its copies are placed (or not).
 */
interface LocalBytes { fh: fsp.FileHandle; off: number; size: number; path?: string; release?: () => Promise<void> }

/** The blocks of local file `file` of known size: slices of it (one, empty, for an empty file). */
function* fileBlocks(fh: fsp.FileHandle, file: string | undefined, size: number, blockBytes: number): Generator<LocalBytes> {
  const count = Math.max(1, Math.ceil(size / blockBytes));
  for (let i = 0; i < count; i++) yield { fh, off: i * blockBytes, size: Math.min(blockBytes, size - i * blockBytes), path: file };
}

/**
 * The blocks of a stream of unknown length, each read into a private temporary file (scratch, see
 * lib/scratch.ts) that goes when the block is released; every block yielded must be. The
 * stream may end while blocks are still being stored: the directory goes with the last of them.
 * A read error names `what`.
 */
async function* streamBlocks(input: Iterable<Uint8Array | string> | AsyncIterable<Uint8Array | string>, blockBytes: number, what: string): AsyncGenerator<LocalBytes> {
  const dir = await makeScratchDir(os.tmpdir(), 'bftmr-stream-');
  const open = new Set<fsp.FileHandle>();
  let ended = false;
  const tidy = async () => {
    if (!ended || open.size > 0) return;
    await removeScratchDir(dir);
  };
  try {
    const chunks = Symbol.asyncIterator in input ? input[Symbol.asyncIterator]() : input[Symbol.iterator]();
    let carry: Buffer | undefined;
    for (let i = 0; ; i++) {
      const file = path.join(dir, `block-${i}`);
      const fh = await openLocal(file, 'w+', 'keep a block of', what);
      open.add(fh);
      const release = async () => {
        if (!open.delete(fh)) return;
        await fh.close().catch(() => {});
        await fsp.rm(file, { force: true });
        await tidy();
      };
      let size = 0;
      try {
        while (size < blockBytes) {
          let chunk = carry;
          carry = undefined;
          if (!chunk) {
            let next: IteratorResult<Uint8Array | string>;
            try { next = await chunks.next(); } catch (e) { throw new BftmrError('LOCAL_IO', `cannot read ${what}: ${ioReason(e)}`); }
            if (next.done) break;
            const v = next.value;
            chunk = typeof v === 'string' ? Buffer.from(v) : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
          }
          const n = Math.min(chunk.length, blockBytes - size);
          await fh.write(chunk, 0, n, size).catch((e) => { throw new BftmrError('LOCAL_IO', `cannot keep a block of ${what} in ${os.tmpdir()}: ${ioReason(e)}`); });
          if (n < chunk.length) carry = chunk.subarray(n);
          size += n;
        }
      } catch (e) {
        await release();
        throw e;
      }
      if (size === 0 && i > 0) { await release(); return; } // it ended at a block's end
      yield { fh, off: 0, size, path: file, release };
      if (size < blockBytes) return;
    }
  } finally {
    ended = true;
    await tidy();
  }
}

/** Where one block read goes: its verified bytes in order from the block's start, then close (or abort: bad bytes, to be read again). */
interface BlockSink {
  write(data: Uint8Array): Promise<void>;
  close(): Promise<void>;
  abort(): Promise<void>;
}

/** A put's write lease: `check` throws once it may have lapsed; `release` ends it. */
interface WriteLeaseHandle { id: string; check: () => void; release: () => Promise<void> }

/** A block as one upload saw it: its digest, its head's, and the proof MACs asked for. */
interface Uploaded { digest: string; head: { digest: string; size: number }; macs: Buffer[]; noNewline: boolean }

/**
 * A copy made with a challenge sent along (AdoptBlock, PullBlock): whether the node answered it
 * as it took the bytes, and rightly; undefined when it did not answer (it is asked with ProveBlock).
 */
interface Answered { proven?: boolean }

/** Whether a node's answer `mac` to a challenge sent along with a copy is `expected`; undefined if it gave none. */
function answered(mac: Uint8Array | undefined, expected: Buffer): boolean | undefined {
  return mac?.length ? expected.equals(mac) : undefined;
}

/** What a put learns of a block of `size` bytes as it reads them: see Uploaded (MACs under `nonces`). */
class BlockSeen {
  readonly #hash = newHasher();
  readonly #head = newHasher();
  readonly #headSize: number;
  readonly #macs;
  #seen = 0;
  #newline = false;

  constructor(size: number, nonces: Buffer[]) {
    this.#headSize = Math.min(size, BLOCK_HEAD_BYTES);
    this.#macs = nonces.map(newProofMac);
  }

  update(data: Buffer): void {
    this.#hash.update(data);
    this.#newline ||= data.includes(10);
    if (this.#seen < this.#headSize) this.#head.update(data.subarray(0, this.#headSize - this.#seen));
    for (const m of this.#macs) m.update(data);
    this.#seen += data.length;
  }

  done(): Uploaded {
    return { digest: this.#hash.digest('hex'), head: { digest: this.#head.digest('hex'), size: this.#headSize }, macs: this.#macs.map((m) => m.digest()), noNewline: !this.#newline };
  }
}

export interface DfsClientOptions {
  /**
   * false: every block read goes through a storage node, even one on this host (dfs/short_circuit.ts),
   * and every block written is streamed to one (dfs/hand_over.ts).
   */
  shortCircuit?: boolean;
  /** Where a put may make hard links to hand blocks to nodes on this host, before the temporary directory: the cluster's home. */
  linkDir?: string;
}

export class DfsClient {
  readonly #jt: RpcClient;
  readonly #peers = new Peers();
  readonly #deadlineMs = kClusterDefaults.rpcDeadlineMs;
  readonly #local: LocalRead | undefined;
  /** Blocks read so far, and how many of them from a file on this host. */
  readonly reads = { blocks: 0, local: 0 };
  /** Blocks put so far, and how many of them were handed to their first node through a link (dfs/hand_over.ts). */
  readonly writes = { blocks: 0, handedOver: 0, answeredOnTheWay: 0, challenged: 0 };

  /** Where a put's hand-over links may go, in order (none: every block is uploaded). */
  readonly #linkDirs: string[];

  constructor(jobTrackerAddress: string, opts: DfsClientOptions = {}) {
    this.#jt = new RpcClient('JobTracker', jobTrackerAddress);
    this.#local = opts.shortCircuit === false ? undefined : shortCircuit(this.#peers);
    this.#linkDirs = opts.shortCircuit === false ? [] : [...(opts.linkDir ? [opts.linkDir] : []), os.tmpdir()];
  }

  get jobTracker(): RpcClient {
    return this.#jt;
  }

  /** Storage nodes currently alive and trusted. */
  async liveNodes(): Promise<number> {
    const st = await this.#jt.call<M.Empty, M.ClusterStatusReply>('ClusterStatus', {}, this.#deadlineMs);
    return st.trackers.filter((t) => t.alive && !t.blacklisted && !t.decommissioning).length;
  }

  /** Per file at or below `p`: each block's live verified replicas against the wanted number. */
  async fsck(p: string): Promise<M.FsckFile[]> {
    const r = await this.#jt.call<M.PathRequest, M.FsckReply>('Fsck', { path: normalizePath(p), recursive: true }, this.#deadlineMs);
    return r.files;
  }

  /** Starts or stops balancing the dfs (HDFS's balancer), or asks how it goes. */
  balance(action: M.BalanceRequest['action'], thresholdPercent = 0): Promise<M.BalanceReply> {
    return this.#jt.call<M.BalanceRequest, M.BalanceReply>('Balance', { action, threshold_percent: thresholdPercent }, this.#deadlineMs);
  }

  /** Trackers by id, with whether they are alive and trusted (to show where replicas live). */
  async trackers(): Promise<Map<string, M.TrackerInfo>> {
    const st = await this.#jt.call<M.Empty, M.ClusterStatusReply>('ClusterStatus', {}, this.#deadlineMs);
    return new Map(st.trackers.map((t) => [t.tracker_id, t]));
  }

  stat(p: string): Promise<M.FileInfo> {
    return this.#jt.call<M.PathRequest, M.FileInfo>('GetFile', { path: normalizePath(p), recursive: false }, this.#deadlineMs);
  }

  /** The file or directory at `p`, or undefined when there is none. */
  async find(p: string): Promise<M.FileInfo | undefined> {
    try {
      return await this.stat(p);
    } catch (e) {
      if (isBftmrError(e, 'DFS_NOT_FOUND')) return undefined;
      throw e;
    }
  }

  async exists(p: string): Promise<boolean> {
    return (await this.find(p)) !== undefined;
  }

  async list(p: string, recursive = false): Promise<M.FileInfo[]> {
    const r = await this.#jt.call<M.PathRequest, M.ListReply>('List', { path: normalizePath(p), recursive }, this.#deadlineMs);
    return r.entries;
  }

  /**
   * The paths that patterns name (dfs/glob.ts), each pattern's in path order; one without glob
   * characters names itself, whether or not it exists. A pattern that matches nothing is DFS_NOT_FOUND.
   */
  async expand(patterns: string[]): Promise<string[]> {
    const out: string[] = [];
    for (const p of patterns) {
      // A path without glob characters takes its escapes literally (`/o/x\*` is the file `x*`).
      if (!hasGlob(p)) { out.push(normalizePath(unescapeGlob(p))); continue; }
      const glob = compileGlob(p);
      let files: M.FileInfo[] = [];
      try {
        files = await this.list(glob.base, true);
      } catch (e) {
        if (!isBftmrError(e, 'DFS_NOT_FOUND')) throw e;
      }
      const found = globMatches(glob, files.filter((f) => !f.is_dir).map((f) => f.path));
      // As a shell does, a pattern that matches nothing is taken as it is: a name may hold [ ] * ? { }.
      if (found.length === 0 && (await this.exists(p).catch(() => false))) found.push(normalizePath(p));
      if (found.length === 0) throw new BftmrError('DFS_NOT_FOUND', `${p}: no match`);
      out.push(...found);
    }
    return out;
  }

  /** Sets the replication of a file or of every file below a directory; returns how many files changed. */
  async setReplication(p: string, replication: number): Promise<number> {
    const r = await this.#jt.call<M.SetReplicationRequest, M.SetReplicationReply>('SetReplication', { path: normalizePath(p), replication }, this.#deadlineMs);
    return r.files_changed;
  }

  /** Moves a file or directory (into `dst` when it is a directory); returns where it is now and how many files moved. */
  async mv(src: string, dst: string): Promise<M.RenameReply> {
    return this.#jt.call<M.RenameRequest, M.RenameReply>('Rename', { src: normalizePath(src), dst: normalizePath(dst) }, this.#deadlineMs);
  }

  async rm(p: string, recursive = false): Promise<number> {
    const r = await this.#jt.call<M.DeleteRequest, M.DeleteReply>('Delete', { path: normalizePath(p), recursive }, this.#deadlineMs);
    return r.files_deleted;
  }

  /**
   * A lease for a write, held until `release()` (HDFS's): renewed in the background, so the job
   * tracker collects none of the blocks it stores before its file is created, and all of them if
   * this client dies.
   */
  async #writeLease(target: string): Promise<WriteLeaseHandle> {
    const id = randomBytes(8).toString('hex');
    const started = Date.now();
    // When the last renewal that got through was sent: the job tracker heard from this client
    // then or later. If the next one to get through is answered more than a lease after, the job
    // tracker may have gone a lease without hearing from it, and let the lease lapse (a job
    // tracker restarted meanwhile would not know): lost for good.
    let lastOk = started;
    let lost = false;
    const renew = async () => {
      const sent = Date.now();
      const reply = await this.#jt.call<M.WriteLease, M.WriteLeaseReply>('RenewWriteLease', { id, started_ms_ago: sent - started }, this.#deadlineMs);
      if (Date.now() - lastOk > reply.lease_ms) lost = true;
      lastOk = Math.max(lastOk, sent); // renewals may overlap: an older one's reply can come last
      return reply;
    };
    const { lease_ms } = await renew();
    // A renewal that does not get through is tried again at the next tick; one refused because
    // the lease lapsed ends them.
    const timer = setInterval(() => void renew().catch((e) => { if (isBftmrError(e, 'DFS_LEASE_LAPSED')) lost = true; }),
      Math.max(100, lease_ms / 4));
    timer.unref();
    return {
      id,
      check: () => {
        if (lost || Date.now() - lastOk > lease_ms) {
          clearInterval(timer);
          throw new BftmrError('DFS_LEASE_LAPSED', `${target}: the write's lease may have lapsed (the job tracker did not hear from this client for ` +
            `${Math.round(lease_ms / 1000)} s), so blocks it stored may have been collected; write it again`);
        }
      },
      release: async () => {
        clearInterval(timer);
        await this.#jt.call<M.WriteLease, M.Empty>('ReleaseWriteLease', { id, started_ms_ago: 0 }, this.#deadlineMs).catch(() => {});
      },
    };
  }

  /** Streams a local file into the dfs. */
  async put(local: string, dfsPath: string, opts: PutOptions = {}): Promise<M.FileInfo> {
    const fh = await openLocal(local, 'r', 'read');
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new BftmrError('LOCAL_IO', `${local} is not a regular file`);
      const blockBytes = opts.blockBytes ?? kDfsDefaults.blockBytes;
      // A file whose size says nothing of its bytes (/proc, /sys) is read as a stream.
      if (await sizeUnknown(local, fh, st.size)) {
        return await this.#putBlocks(dfsPath, streamBlocks(fh.createReadStream({ start: 0, autoClose: false }), blockBytes, local), opts, undefined);
      }
      // The file itself, not a symbolic link to it: a hand-over links the file (dfs/hand_over.ts).
      const real = await fsp.realpath(local).catch(() => undefined);
      return await this.#putBlocks(dfsPath, fileBlocks(fh, real, st.size, blockBytes), opts, st.size);
    } finally {
      await fh.close();
    }
  }

  /**
   * Streams `input` (standard input, say) into the dfs as it is read: each block is kept in a
   * private temporary file until its copies are placed (a put reads a block more than once), so
   * at most a few blocks are on the local disk at once. `what` names the input in errors.
   */
  async putStream(input: Iterable<Uint8Array | string> | AsyncIterable<Uint8Array | string>, dfsPath: string, opts: PutOptions = {}, what = 'standard input'): Promise<M.FileInfo> {
    return this.#putBlocks(dfsPath, streamBlocks(input, opts.blockBytes ?? kDfsDefaults.blockBytes, what), opts, undefined);
  }

  /** A put of the blocks `source` yields, under a write lease; `total`: their bytes, when known. */
  async #putBlocks(dfsPath: string, source: Iterable<LocalBytes> | AsyncIterable<LocalBytes>, opts: PutOptions, total: number | undefined): Promise<M.FileInfo> {
    const target = normalizePath(dfsPath);
    const replication = opts.replication ?? kDfsDefaults.replication;
    if (!Number.isInteger(replication) || replication < 1) throw new BftmrError('JOB_BAD_ARGUMENT', `replication must be a whole number >= 1, not ${replication}`);
    // Once one block fails, the others stop placing copies (the put fails anyway).
    const abort = new AbortController();
    let lease: WriteLeaseHandle | undefined;
    const links = this.#linkDirs.length ? new HandOverLinks(this.#linkDirs) : undefined;
    const accused = new Map<string, Accusation>();
    try {
      lease = await this.#writeLease(target);
      if (!opts.overwrite && (await this.exists(target))) throw new BftmrError('DFS_EXISTS', `${target} already exists (use --force to replace it)`);
      // Several blocks at once, each uploaded to its own first node and then pulled by the others.
      let done = 0;
      const blocks = await windowedStream(source, BLOCKS_IN_FLIGHT, async ({ fh, off, size, path: local, release }, i) => {
        let last = 0; // the furthest this block's uploads got: progress never goes back
        const block = { file: target, index: i, fh, off, size, path: local, links, replication, minReplication: opts.minReplication ?? replication, signal: abort.signal, accused };
        try {
          lease!.check(); // a put whose lease lapsed fails now, not after storing the rest
          return await this.#putBlock(block, (n) => {
            if (n <= last) return;
            done += n - last;
            last = n;
            opts.progress?.(done, total);
          });
        } catch (e) {
          if (e instanceof PutGivenUp) throw abort.signal.reason; // the failure that stopped it
          let why = e;
          try {
            lease!.check(); // a lapsed lease is why, when it lapsed (a stopped client's uploads fail too)
          } catch (lapsed) {
            why = lapsed;
          }
          abort.abort(why);
          throw why;
        } finally {
          await release?.();
        }
      });
      lease.check();
      await this.#jt.call<M.CreateFileRequest, M.Empty>('CreateFile', { path: target, blocks, replication, overwrite: !!opts.overwrite, lease_id: lease.id }, this.#deadlineMs)
        .catch((e) => { throw isBftmrError(e, 'DFS_LEASE_LAPSED') ? new BftmrError('DFS_LEASE_LAPSED', `${target}: ${e.message}`) : e; });
      // Now the file lists them: the job tracker hears of the sources that lied to the nodes pulling copies.
      for (const a of accused.values()) {
        await this.#jt.call<M.BadReplicaReport, M.Empty>('ReportBadReplica', { path: target, ...a }, this.#deadlineMs).catch(() => {});
      }
      return this.stat(target);
    } finally {
      await links?.close();
      await lease?.release();
    }
  }

  /**
   * Streams bytes [off, off+size) of the local file to `target` as one block; returns its digest,
   * its head's (BLOCK_HEAD_BYTES), and the proof MAC (lib/proof.ts) of the bytes under each of
   * `nonces` (all computed on the way).
   */
  async #upload(target: M.Location, fh: fsp.FileHandle, off: number, size: number, progress?: (n: number) => void, nonces: Buffer[] = []):
    Promise<Uploaded> {
    const xx = await loadXXHash();
    const seen = new BlockSeen(size, nonces);
    // Each chunk is hashed before it is written and not read after: its memory may serve the next one.
    const up = this.#peers.get(target.address).upload<M.BlockChunk, M.WriteBlockReply>('WriteBlock', TRANSFER_DEADLINE_MS, chunkSent);
    // A node that takes no bytes (frozen, say) while the client waits on it is given up as a silent
    // source is (lib/source_pace.ts), and then tried last by this client for a while (dfs/peers.ts);
    // its acknowledgement (the bytes flushed and checked) gets the time a source has for the block.
    const watch = new WaitWatch(() => up.cancel());
    let uploaded: Uploaded;
    let ack: M.WriteBlockReply;
    try {
      let sent = 0;
      for await (const data of localChunks(fh, off, size)) {
        seen.update(data);
        await watch.on(up.write(encodeChunk(data, xx.h32(data))), kSourcePace.stallMs, 'took no bytes of the block');
        sent += data.length;
        progress?.(sent);
      }
      uploaded = seen.done();
      await watch.on(up.write({ data: Buffer.alloc(0), xxh32: xx.h32(Buffer.alloc(0)), digest: uploaded.digest, last: true }), kSourcePace.stallMs, 'took no bytes of the block');
      ack = await watch.on(up.finish(), sourceAllowanceMs(size), 'did not acknowledge the block');
    } catch (e) {
      up.cancel();
      if (!watch.silentForMs) throw e;
      throw this.#silent(target, watch, e);
    } finally {
      watch.stop();
    }
    this.#peers.heard(target);
    if (ack.digest !== uploaded.digest) throw new BftmrError('DFS_DIGEST_MISMATCH', `${target.tracker_id} stored ${shortDigest(ack.digest)}, not ${shortDigest(uploaded.digest)}`);
    return uploaded;
  }

  /**
   * Why a write to `target` was given up: it kept the client waiting past `watch`'s limit (`cause`
   * is how the call ended). The node is remembered as silent for a while (dfs/peers.ts); the error
   * says so (`silent`), so a put may try it again when no other node is left.
   */
  #silent(target: M.Location, watch: WaitWatch, cause: unknown): BftmrError {
    this.#peers.silenced(target);
    return Object.assign(new BftmrError('UNAVAILABLE', `${target.tracker_id} ${watch.silentFor} for ${watch.silentForMs} ms`, { cause }), { silent: true });
  }

  /**
   * Block `b` to `target`, a node on this host, handed over through a hard link to the local file
   * (dfs/hand_over.ts): the client reads the block once (its digest, head and MACs, as an upload
   * computes them), the node reads it from the link and keeps its own copy, and neither streams
   * it over TLS. What an upload returns, or undefined when the block cannot go that way (no link
   * on this file system, a node of a build without AdoptBlock, a local file that changed): it is
   * uploaded then. A node that says nothing of its read for as long as an upload may stall is
   * given up as one that takes no bytes of an upload is.
   */
  async #handOver(target: M.Location, b: BlockToPut, progress: (n: number) => void, nonces: Buffer[]): Promise<(Uploaded & Answered) | undefined> {
    if (!b.links || !b.path || !onThisHost(target.address) || !b.links.worthTrying(b.path, target.tracker_id)) return undefined;
    // One more nonce, for this node alone: it answers it as it reads (answerOnTheWay in tasktracker/block_service.ts).
    const ask = newNonce();
    const seen = new BlockSeen(b.size, [...nonces, ask]);
    for await (const data of localChunks(b.fh, b.off, b.size, reusedMemory())) seen.update(data);
    const block = seen.done();
    const askMac = block.macs.pop()!;
    const link = await b.links.link(b.path, b.index, block.digest);
    if (!link) return undefined;
    const ac = new AbortController();
    // The node says how far it has read every second (AdoptBlock): one that says nothing for as
    // long as an upload may stall has stopped; one that takes longer in all than a source may for
    // the block is as slow as one.
    const gap = new WaitWatch(() => ac.abort());
    const whole = new WaitWatch(() => ac.abort());
    let told: AsyncGenerator<M.AdoptBlockProgress> | undefined;
    let answer: Uint8Array | undefined;
    try {
      const req: M.AdoptBlockRequest = { digest: block.digest, size: b.size, path: link.path, offset: b.off, nonce: ask };
      told = this.#peers.get(target.address).stream<M.AdoptBlockRequest, M.AdoptBlockProgress>('AdoptBlock', req, TRANSFER_DEADLINE_MS, ac.signal);
      const said = told;
      const ack = await whole.on((async () => {
        for (let read = 0; ;) {
          const next = await gap.on(said.next(), kSourcePace.stallMs, 'did not read the block handed over');
          if (next.done) return undefined;
          if (next.value.stored) return next.value.stored;
          if (next.value.read < read || next.value.read > b.size) throw new BftmrError('BAD_REQUEST', `${target.tracker_id} said it read ${next.value.read} of ${b.size} bytes, after ${read}`);
          progress(read = next.value.read);
        }
      })(), sourceAllowanceMs(b.size), 'did not take the block handed over');
      if (!ack) throw new BftmrError('UNAVAILABLE', `${target.tracker_id} ended the hand-over without a copy`);
      if (ack.digest !== block.digest) throw new BftmrError('DFS_DIGEST_MISMATCH', `${target.tracker_id} stored ${shortDigest(ack.digest)}, not ${shortDigest(block.digest)}`);
      answer = ack.mac;
    } catch (e) {
      const silent = gap.silentForMs ? gap : whole.silentForMs ? whole : undefined;
      if (!silent) {
        b.links.refusedBy(target.tracker_id); // its later blocks are uploaded to it at once
        return undefined;
      }
      throw this.#silent(target, silent, e);
    } finally {
      gap.stop();
      whole.stop();
      await told?.return(undefined); // cancels the call if it is still on
      await link.remove();
    }
    this.#peers.heard(target);
    progress(b.size);
    return { ...block, proven: answered(answer, askMac) };
  }

  /** A challenge no node has seen: a fresh nonce and the MAC of the block's bytes, re-read from the local file. */
  async #freshChallenge(fh: fsp.FileHandle, off: number, size: number, digest: string): Promise<Challenge> {
    const nonce = newNonce();
    const mac = newProofMac(nonce);
    const hash = newHasher();
    for await (const chunk of localChunks(fh, off, size, reusedMemory())) {
      mac.update(chunk);
      hash.update(chunk);
    }
    if (hash.digest('hex') !== digest) throw localFileChanged();
    return { nonce, mac: mac.digest() };
  }

  /**
   * Whether `target` proves it holds the block: the MAC under a nonce it has not seen before now.
   * (A node that threw the bytes away could still fetch them back from another holder in time to
   * answer; see jobtracker/block_audit.ts. What this rules out is a node that never stored them.)
   */
  async #proves(target: M.Location, digest: string, size: number, c: Challenge): Promise<boolean> {
    try {
      const r = await this.#peers.get(target.address).call<M.ProveBlockRequest, M.ProveBlockReply>(
        'ProveBlock', { digest, nonce: c.nonce }, sourceAllowanceMs(size));
      return Buffer.from(r.mac).equals(c.mac);
    } catch {
      return false;
    }
  }

  /**
   * One block onto `replication` nodes: uploaded to a first node, then pulled from the proven
   * copies by the others (which verify the digest); a node that cannot get verified bytes that way
   * gets them from the client directly. A node's acknowledgement is not enough: every copy must
   * answer a challenge under its own nonce, drawn before the upload (so a node that answered one
   * cannot hand the answer to another). A hand-over and a pull send the nonce along, and the node
   * answers as it takes the bytes (answerOnTheWay in tasktracker/block_service.ts) instead of
   * reading its copy back from the disk for ProveBlock (3 GB fewer read for a 1 GB put). A node
   * that does not answer so (one that held the block already, say) is asked with ProveBlock. A
   * node that fails, or cannot be reached, is replaced by another live one, every node may be
   * tried, and what a failed node stored is reported so the job tracker can check it and delete it. Resolves when `minReplication` (at best `replication`)
   * copies are proven.
   */
  async #putBlock(b: BlockToPut, progress: (n: number) => void): Promise<M.BlockRef> {
    const where = `block ${b.index} of ${b.file}`;
    const tried = new Set<string>();
    const refused: string[] = [];
    /** Why each refused node did not keep a copy, as far as this client saw (its last error). */
    const reasons = new Map<string, string>();
    const note = (t: string, e: unknown) => reasons.set(t, messageOf(e).replace(/^\d+ [A-Z_]+: /, '').replace(/\s+/g, ' ').slice(0, 160));
    const replicas: M.Location[] = [];
    /** No node is left to try: which refused, why, and how many copies there are (at the end, all placements settled). */
    const tooFew = () => {
      // Each node once, with its last reason; not one that took a copy when tried again.
      const refusers = [...new Set(refused)].filter((t) => !replicas.some((r) => r.tracker_id === t));
      const named = refusers.map((t) => (reasons.has(t) ? `${t}: ${reasons.get(t)}` : t));
      const why = refusers.length ? `refused by ${named.join('; ')}; ` : '';
      return new BftmrError('DFS_TOO_FEW_NODES', `no node is left to keep a verified copy of ${where} (${why}${replicas.length} of ${b.replication} copies are placed)`);
    };
    /**
     * Live nodes for `replication` copies, none of `exclude`; none that went silent on this client
     * lately either (dfs/peers.ts), unless too few others are left.
     */
    const allocate = async (replication: number, exclude: string[]): Promise<M.Location[]> => {
      const silent = this.#peers.silentIds().filter((id) => !exclude.includes(id));
      const ask = (ex: string[]) => this.#jt.call<M.AllocateBlockRequest, M.AllocateBlockReply>('AllocateBlock', { replication, exclude: ex }, this.#deadlineMs);
      try {
        return (await ask([...exclude, ...silent])).targets;
      } catch (e) {
        if (!silent.length || !isBftmrError(e, 'DFS_TOO_FEW_NODES')) throw e;
        return this.#peers.silentLast((await ask(exclude)).targets);
      }
    };
    /**
     * Nodes given up on for silence or a failed connection alone (a freeze, a client stopped longer
     * than the keepalive: it may pass), with how often: when no other node is left, one is tried
     * again, each at most SILENT_TRIES times for the block.
     */
    const silentTries = new Map<string, number>();
    const spare: M.Location[] = [];
    const refuse = (t: M.Location, e: unknown) => {
      refused.push(t.tracker_id);
      note(t.tracker_id, e);
      if (!(e as { silent?: boolean }).silent && !isTransportFailure(e)) return;
      const n = (silentTries.get(t.tracker_id) ?? 0) + 1;
      silentTries.set(t.tracker_id, n);
      if (n < SILENT_TRIES) spare.push(t);
    };
    /** Another live node for a copy, none tried before for this block (copies are placed concurrently). */
    const another = async (): Promise<M.Location> => {
      for (;;) {
        let next: M.Location;
        try {
          [next] = (await allocate(1, [...tried])) as [M.Location];
        } catch (e) {
          if (!isBftmrError(e, 'DFS_TOO_FEW_NODES')) throw e;
          const again = spare.shift();
          if (again) return again;
          throw tooFew();
        }
        const known = tried.has(next.tracker_id);
        tried.add(next.tracker_id);
        if (!known) return next;
      }
    };

    const targets = await allocate(b.replication, []);
    for (const t of targets) tried.add(t.tracker_id);
    // A node on this host first: the block can be handed to it through a link.
    const here = b.links ? targets.findIndex((t) => onThisHost(t.address)) : -1;
    if (here > 0) targets.unshift(...targets.splice(here, 1));
    let [first, ...rest] = targets as [M.Location, ...M.Location[]];
    const nonces = Array.from({ length: b.replication }, newNonce);
    let uploaded: Uploaded & Answered;
    for (;;) {
      if (b.signal.aborted) throw new PutGivenUp(); // another block failed: no other node is tried
      try {
        const handed = await this.#handOver(first, b, progress, nonces);
        if (handed) this.writes.handedOver++;
        uploaded = handed ?? (await this.#upload(first, b.fh, b.off, b.size, progress, nonces));
        break;
      } catch (e) {
        if (isBftmrError(e, 'LOCAL_IO')) throw e;
        if (b.signal.aborted) throw new PutGivenUp();
        refuse(first, e);
        // The other nodes chosen first (their places go to other nodes below).
        first = rest.shift() ?? await another();
      }
    }
    this.writes.blocks++;
    const { digest } = uploaded;
    const challenges: Challenge[] = nonces.map((nonce, i) => ({ nonce, mac: uploaded.macs[i]! }));
    const challenge = async () => challenges.pop() ?? this.#freshChallenge(b.fh, b.off, b.size, digest);

    /** A copy on `t` (pulled from the proven ones, else uploaded), whether it answered a challenge on the way; undefined if none was made. */
    const copyTo = async (t: M.Location): Promise<Answered | undefined> => {
      if (replicas.length) {
        // The node answers the challenge sent along as the bytes come in (a nonce it alone has seen).
        const ask = await challenge();
        try {
          // The node may try each source in turn, each with the time a source has for the block.
          const r = await this.#peers.get(t.address).call<M.PullBlockRequest, M.PullBlockReply>(
            'PullBlock', { digest, size: b.size, sources: [...replicas], nonce: ask.nonce }, (replicas.length + 1) * sourceAllowanceMs(b.size));
          // Sources that lied to it are reported once the file lists them (the job tracker checks
          // them then). Only sources it was given: a lying node names no one else through us.
          for (const s of r.bad_sources ?? []) {
            if (!replicas.some((x) => x.tracker_id === s.tracker_id)) continue;
            b.accused.set(`${s.tracker_id}|${digest}`, { digest, tracker_id: s.tracker_id, puller: t.tracker_id, error: String(s.error).slice(0, 300) });
          }
          if (r.digest === digest) return { proven: answered(r.mac, ask.mac) };
          if (r.error) note(t.tracker_id, r.error);
        } catch (e) {
          note(t.tracker_id, e); // and fall back to the client's own copy (a frozen node is given up on there)
        }
      }
      let again: string;
      try { again = (await this.#upload(t, b.fh, b.off, b.size)).digest; } catch (e) {
        if (isBftmrError(e, 'LOCAL_IO')) throw e;
        refuse(t, e);
        return undefined;
      }
      if (again !== digest) throw localFileChanged();
      return {};
    };
    let shortfall: unknown;
    /** Another node for a copy, or undefined (leaving `shortfall`) when none is left. */
    const next = async (): Promise<M.Location | undefined> => {
      try { return await another(); } catch (e) {
        if (!isBftmrError(e, 'DFS_TOO_FEW_NODES')) throw e;
        shortfall = e; // this copy is not made; enough others may be
        return undefined;
      }
    };
    /**
     * A proven copy on `t` (`made` there already), or else on another; gives up when none is left.
     * A copy whose node did not answer a challenge on the way is challenged now.
     */
    const place = async (t: M.Location | undefined, made?: Answered): Promise<void> => {
      for (let target = t ?? (await next()), n = 0; target && !b.signal.aborted; n++) {
        const copy = made && n === 0 ? made : await copyTo(target);
        if (copy?.proven !== undefined) this.writes.answeredOnTheWay++;
        else if (copy) this.writes.challenged++;
        if (copy && (copy.proven ?? (await this.#proves(target, digest, b.size, await challenge())))) { replicas.push(target); return; }
        if (copy) { // (a copy not made: copyTo refused the node, saying why)
          refused.push(target.tracker_id);
          note(target.tracker_id, 'did not prove it holds the copy it acknowledged');
          // What it stored is no file's copy: the job tracker checks it and deletes it if it is bad.
          await this.#jt.call<M.BadReplicaReport, M.Empty>('ReportBadReplica', { path: b.file, digest, tracker_id: target.tracker_id,
            error: 'did not prove it holds the copy it acknowledged', writer: true }, this.#deadlineMs).catch(() => {});
        }
        target = await next();
      }
    };
    // The first copy is proven before the others pull from it; nodes that failed the first upload
    // left places for others.
    await place(first, uploaded);
    const others = [...rest, ...Array.from({ length: b.replication - 1 - rest.length }, () => undefined)];
    const settled = await Promise.allSettled(others.map((t) => place(t)));
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    if (!b.signal.aborted && replicas.length < Math.max(1, b.minReplication)) throw shortfall ? tooFew() : shortfall;
    return { digest, size: b.size, replicas, head_digest: uploaded.head.digest, head_size: uploaded.head.size, ...(uploaded.noNewline ? { no_newline: true } : {}) };
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
   * Hands a dfs file's bytes to a sink per block (`open(index, offset in the file)`), several
   * blocks at once (placement is random, so they mostly come from different nodes); a block read
   * again from another replica gets a new sink, the last one aborted.
   */
  async #readInto(info: M.FileInfo, open: (index: number, base: number) => Promise<BlockSink>, progress?: Progress): Promise<void> {
    const bases: number[] = [];
    for (let i = 0, off = 0; i < info.blocks.length; off += info.blocks[i]!.size, i++) bases.push(off);
    let done = 0;
    await windowed(info.blocks.length, BLOCKS_IN_FLIGHT, async (i) => {
      const b = info.blocks[i]!;
      const base = bases[i]!;
      if (b.replicas.length === 0) {
        throw new BftmrError('DFS_NO_REPLICA', `${info.path}, block ${i} (${shortDigest(b.digest)}): no verified copy is left`);
      }
      let reached = base; // a retry from another replica rewrites bytes already counted
      try {
        const { failures, local } = await fetchBlock(this.#peers, { ...b, replicas: readOrder(b.replicas) }, async (chunks) => {
          const hash = new PieceHasher();
          let pos = base;
          const sink = await open(i, base);
          try {
            // No more than the block's bytes come (fetchBlock): none lands on the next block's.
            // A piece read from a file is hashed in another thread while it is written here.
            for await (const c of chunks) {
              await Promise.all([hash.update(c), sink.write(c)]);
              pos += c.length;
              if (pos > reached) {
                done += pos - reached;
                reached = pos;
                progress?.(done, info.size);
              }
            }
            const got = await hash.digest();
            if (got !== b.digest || pos - base !== b.size) {
              throw new BftmrError('DFS_DIGEST_MISMATCH', `served bytes hash to ${shortDigest(got)}, not ${shortDigest(b.digest)}`);
            }
          } catch (e) {
            hash.discard();
            await sink.abort();
            throw e;
          }
          await sink.close();
        }, undefined, undefined, this.#local);
        this.reads.blocks++;
        if (local) this.reads.local++;
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
  /** Copies a dfs file or directory to `local`; with `dryRun`, only checks and says where it would go. */
  async get(dfsPath: string, local: string, progress?: Progress, overwrite = false, dryRun = false): Promise<string[]> {
    const info = await this.stat(dfsPath);
    // As HDFS's -get: a local file that exists is not replaced unless asked (-f); checked for
    // every file before any is written.
    const free = (dest: string) => { localTarget(dest, overwrite); };
    if (!info.is_dir) {
      let dest = local;
      if (fs.existsSync(local) && fs.statSync(local).isDirectory()) dest = path.join(local, path.posix.basename(info.path));
      free(dest);
      if (!dryRun) await this.#getFile(info, dest, overwrite, progress);
      return [dest];
    }
    // cp -r semantics: into an existing directory, the source directory goes inside it.
    if (fs.existsSync(local) && !fs.statSync(local).isDirectory()) throw new BftmrError('DFS_EXISTS', `${local} is a file, and ${info.path} is a directory`);
    const root = fs.existsSync(local) ? path.join(local, path.posix.basename(info.path) || 'root') : local;
    const files = (await this.list(info.path, true)).filter((e) => !e.is_dir);
    const dests = files.map((f) => path.join(root, ...path.posix.relative(info.path, f.path).split('/')));
    dests.forEach(free);
    if (dryRun) return dests;
    const written: string[] = [];
    for (const [i, f] of files.entries()) {
      const dest = dests[i]!;
      await fsp.mkdir(path.dirname(dest), { recursive: true });
      await this.#getFile(f, dest, overwrite, progress);
      written.push(dest);
    }
    if (files.length === 0) await fsp.mkdir(root, { recursive: true });
    return written;
  }

  async #getFile(info: M.FileInfo, dest: string, overwrite: boolean, progress?: Progress): Promise<void> {
    const target = localTarget(dest, overwrite);
    if (target.kind === 'stream') return this.#streamFile(info, target.path, progress);
    const final = target.path;
    const tmp = `${final}.bftmr-partial-${process.pid}`;
    const fh = await openLocal(tmp, 'w', 'write', dest);
    const release = holdScratch(tmp);
    try {
      // Each block is written by a writer of its own, around the page cache (lib/direct_io.ts).
      const last = info.blocks.length - 1;
      await this.#readInto(info, async (i, base) => {
        const w = await FileWriter.open(tmp, base);
        return { write: (d) => w.write(d), close: async () => { await w.close(i === last); }, abort: () => w.abort() };
      }, progress);
      await fh.truncate(info.size);
      await fh.close();
      await fsp.rename(tmp, final);
    } catch (e) {
      await fh.close().catch(() => {});
      await fsp.rm(tmp, { force: true });
      throw e;
    } finally {
      release();
    }
  }

  /**
   * Writes a file's bytes into a FIFO or a device, in order (no temporary file, no rename: that
   * would replace it); opened without O_CREAT, so it is never made a regular file meanwhile.
   */
  async #streamFile(info: M.FileInfo, dest: string, progress?: Progress): Promise<void> {
    const { O_WRONLY, O_NOCTTY } = fs.constants;
    const fh = await openLocal(dest, O_WRONLY | O_NOCTTY, 'write');
    try {
      await this.#inOrder(info, async (buf) => {
        for (let off = 0; off < buf.length;) {
          const { bytesWritten } = await fh.write(buf, off, buf.length - off, null)
            .catch((e) => { throw new BftmrError('LOCAL_IO', `cannot write ${dest}: ${ioReason(e)}`); });
          off += bytesWritten;
        }
      }, progress);
    } finally {
      await fh.close().catch(() => {});
    }
  }

  /** Hands a file's blocks to `write` one after another, each whole and verified before any of it is written. */
  async #inOrder(info: M.FileInfo, write: (block: Buffer) => Promise<void>, progress?: Progress): Promise<void> {
    let done = 0;
    for (const b of info.blocks) {
      const one: M.FileInfo = { ...info, size: b.size, blocks: [b] };
      const buf = Buffer.allocUnsafe(b.size);
      await this.#readInto(one, async () => {
        let pos = 0;
        return { write: async (d) => { buf.set(d, pos); pos += d.length; }, close: async () => {}, abort: async () => {} };
      });
      await write(buf);
      done += b.size;
      progress?.(done, info.size);
    }
  }

  /** Writes a file's bytes to `out`; each block is verified before any of it is written. */
  async cat(dfsPath: string, out: NodeJS.WritableStream): Promise<void> {
    const info = await this.stat(dfsPath);
    if (info.is_dir) throw new BftmrError('DFS_BAD_PATH', `${info.path} is a directory`);
    await this.#inOrder(info, async (buf) => {
      if (!out.write(buf)) await new Promise((r) => out.once('drain', r));
    });
  }

  close(): void {
    this.#peers.close();
    this.#jt.close();
  }
}

