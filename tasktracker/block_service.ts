/** The TaskTracker gRPC service's block calls: upload, pull from a peer, serve, and prove possession. */
import { USERS, type Peer, type Role } from '../lib/identity.ts';
import { BftmrError, ioReason, messageOf } from '../lib/errors.ts';
import { clientStream, serverStream, unary, type Handler } from '../lib/rpc.ts';
import path from 'node:path';
import type {
  AdoptBlockProgress, AdoptBlockRequest, BadSource, BlockChunk, BlockRef, LocateBlockReply, LocateBlockRequest, ProveBlockReply, ProveBlockRequest, PullBlockReply, PullBlockRequest, ReadBlockRequest, WriteBlockReply,
} from '../lib/messages.ts';
import { loadXXHash } from '../lib/xxhash.ts';
import { shortDigest } from '../lib/digest.ts';
import { newProofMac, type ProofMac } from '../lib/proof.ts';
import { DFS_OWNER, reusedMemory, type BlockStore, type Owner } from '../dfs/block_store.ts';
import { fetchBlock, WHOLE, type FetchFailure } from '../dfs/block_transfer.ts';
import { fileBytes, shortCircuit } from '../dfs/short_circuit.ts';
import { onThisHost } from '../lib/hosts.ts';
import { kSourcePace } from '../lib/source_pace.ts';
import { chunkBuffer, chunkSent, encodeChunk } from '../dfs/chunk_codec.ts';
import type { Peers } from '../dfs/peers.ts';
import { altersServed, corruptServed, StorageLies, type Fault } from './faults.ts';

/**
 * Fetches block `ref` into `store` for `owner` from its replicas in turn, each copy verified
 * against the digest. A replica on this host is read from its file (short-circuit, as a client's
 * reads: a local cluster's nodes share the host, and the copy then costs no TLS stream on either
 * side); `local` says so. Used by pulls and for tasks' inputs (split blocks, job code, map outputs
 * in the shuffle).
 */
export function fetchInto(store: BlockStore, peers: Peers, ref: Pick<BlockRef, 'digest' | 'size' | 'replicas'>, owner: Owner, signal?: AbortSignal,
  tap: (chunks: AsyncIterable<Uint8Array>) => AsyncIterable<Uint8Array> = (chunks) => chunks) {
  return fetchBlock(peers, ref, (chunks) => store.put(tap(chunks), owner, ref.digest), signal, WHOLE, shortCircuit(peers));
}

/**
 * A writer's challenge answered as the bytes come in: DfsClient#putBlock sends a fresh nonce with
 * AdoptBlock and PullBlock, and the node returns the proof MAC (lib/proof.ts) under it of the bytes
 * it kept, so neither the writer's ProveBlock nor this node's read of its copy back is needed. It
 * proves what ProveBlock right after the write proves: that the node had the bytes (see
 * DfsClient#proves). `tap` passes the bytes of each try (a pull may try several sources) through
 * a MAC of its own; `answer` is the last one's. Undefined without a nonce, and when this node
 * leaves the challenge to ProveBlock, as any node may (some storage liars: StorageLies.onTheWay).
 */
export function answerOnTheWay(nonce: Uint8Array | undefined, lies: StorageLies) {
  const answered = lies.onTheWay();
  if (!nonce?.length || !answered) return undefined;
  newProofMac(nonce); // a malformed nonce is refused before any byte is read
  let mac: ProofMac | undefined;
  return {
    async* tap(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
      const m = (mac = newProofMac(nonce));
      for await (const c of chunks) {
        m.update(answered(c));
        yield c;
      }
    },
    answer: (): Uint8Array => mac?.digest() ?? new Uint8Array(0),
  };
}

/**
 * Makes this node hold block `req.digest` for the dfs, pulling it from `req.sources` (fetchInto)
 * unless it holds it already. Used by a client's put and by the job tracker's repairs. `failures`
 * names the sources that did not deliver; `local`, that the copy came from a source's file.
 */
export async function pullBlock(store: BlockStore, peers: Peers, lies: StorageLies, req: PullBlockRequest, signal?: AbortSignal):
  Promise<{ reply: WriteBlockReply; failures: FetchFailure[]; local: boolean }> {
  const held = await heldForDfs(store, req.digest);
  if (held) return { reply: held, failures: [], local: false };
  const proof = answerOnTheWay(req.nonce, lies);
  const { result, failures, local } = await fetchInto(store, peers, { digest: req.digest, size: req.size, replicas: req.sources }, DFS_OWNER, signal, proof?.tap);
  await lies.stored(result.digest);
  return { reply: { digest: result.digest, size: result.size, ...(proof ? { mac: proof.answer() } : {}) }, failures, local };
}

/** How a pull (pullBlock) went, a failed one included: why it failed, and the sources that failed either way. */
export interface PullOutcome { reply?: WriteBlockReply; error: string; failures: FetchFailure[]; local: boolean }

export async function tryPull(store: BlockStore, peers: Peers, lies: StorageLies, req: PullBlockRequest, signal?: AbortSignal): Promise<PullOutcome> {
  try {
    return { ...(await pullBlock(store, peers, lies, req, signal)), error: '' };
  } catch (e) {
    return { error: messageOf(e), failures: (e as { failures?: FetchFailure[] }).failures ?? [], local: false };
  }
}

/** The sources that served bytes not matching the digest, or said they do not hold the block: the ones worth reporting. */
export function badSources(failures: FetchFailure[]): BadSource[] {
  return failures.filter((f) => f.badBytes || f.missing).map((f) => ({ tracker_id: f.source.tracker_id, error: f.error }));
}

/**
 * A writer's pull: the copy kept, or why there is none; either way, the sources that lied to this
 * node or denied holding the block, for the writer to report (they are replicas it listed).
 */
async function pullForWriter(store: BlockStore, peers: Peers, lies: StorageLies, req: PullBlockRequest, signal?: AbortSignal): Promise<PullBlockReply> {
  const { reply, error, failures } = await tryPull(store, peers, lies, req, signal);
  return { digest: reply?.digest ?? '', size: reply?.size ?? 0, bad_sources: badSources(failures), error, ...(reply?.mac ? { mac: reply.mac } : {}) };
}

/** The block, if this node holds it already (for a job, say): it is now the dfs's too. */
async function heldForDfs(store: BlockStore, digest: string): Promise<WriteBlockReply | undefined> {
  const held = await store.get(digest);
  if (!held) return undefined;
  await store.addOwner(digest, DFS_OWNER);
  return { digest: held.digest, size: held.size };
}

/**
 * Takes block `req.digest` from a file on this host that a client on this host names (a hard link
 * to its local file, made for the hand-over: dfs/client.ts), keeping a copy of its own as after an
 * upload. The same rules as a short-circuit read's (dfs/short_circuit.ts): only a regular file
 * named by the block's digest is opened, no link followed and no FIFO waited on, at most the
 * block's bytes are read, and they must hash to the digest. So a client gets no more than it could
 * upload, except this: the node may read a file its own user can read and the client's cannot, if
 * that file is named by the digest of the bytes asked for (another cluster's block file on this
 * host, whose digest but not bytes the client knows).
 */
export async function* adoptBlock(store: BlockStore, lies: StorageLies, req: AdoptBlockRequest, caller: Peer, signal?: AbortSignal,
  everyMs = ADOPT_PROGRESS_MS): AsyncGenerator<AdoptBlockProgress> {
  if (!onCallersHost(caller)) {
    throw new BftmrError('BAD_REQUEST', `a block is handed over through a file only by a client on this node's host, not ${caller.address ?? 'an unknown address'}`);
  }
  if (!path.isAbsolute(req.path) || path.basename(req.path) !== req.digest) {
    throw new BftmrError('BAD_REQUEST', 'a block handed over through a file comes in an absolute path named by its digest');
  }
  const held = await heldForDfs(store, req.digest);
  if (held) {
    yield { read: held.size, stored: held };
    return;
  }
  let read = 0;
  /** The file's bytes; a client that gave up (its call cancelled) stops the read. */
  async function* handedOver(): AsyncGenerator<Uint8Array> {
    try {
      // Through the page cache: the client has just read these bytes (their digest), so they are
      // there, and a read around it would fetch them from the disk again.
      for await (const data of fileBytes(req.path, req.offset, req.offset + req.size, kSourcePace.stallMs, false)) {
        if (signal?.aborted) throw new BftmrError('UNAVAILABLE', 'the client gave up the hand-over');
        read += data.length;
        yield data;
      }
    } catch (e) {
      if (e instanceof BftmrError) throw e;
      throw new BftmrError('BAD_REQUEST', `cannot read the file handed over, ${req.path}: ${ioReason(e)}`);
    }
  }
  const proof = answerOnTheWay(req.nonce, lies);
  const put = store.put(proof ? proof.tap(handedOver()) : handedOver(), DFS_OWNER, req.digest);
  // How far the read got, every `everyMs` until the copy is kept: a client waiting on a node that
  // stopped (frozen) hears nothing and gives up as on a silent upload. (A read that gets nowhere
  // fails here after kSourcePace.stallMs, in fileBytes.)
  let settled = false;
  let wake: (() => void) | undefined;
  put.then(() => { settled = true; wake?.(); }, () => { settled = true; wake?.(); });
  const ticker = setInterval(() => wake?.(), everyMs);
  try {
    while (!settled) {
      await new Promise<void>((resolve) => { wake = resolve; });
      if (!settled) yield { read };
    }
  } finally {
    clearInterval(ticker);
  }
  const info = await put;
  await lies.stored(info.digest);
  yield { read: info.size, stored: { digest: info.digest, size: info.size, ...(proof ? { mac: proof.answer() } : {}) } };
}

/** Whether the caller's connection comes from this host (so it can open the files this node names or reads). */
function onCallersHost(caller: Peer): boolean {
  return !!caller.address && onThisHost(caller.address);
}

/** How often a node taking a block handed over says how far it has read (AdoptBlock). */
export const ADOPT_PROGRESS_MS = 1000;

/**
 * Who may call the TaskTracker service: clients (admins too) write blocks, have a node pull a
 * copy, read (or locate) blocks and attempt logs; trackers only read each other's blocks (shuffle, repair);
 * the job tracker reads (audits) and asks for proofs; only clients and the job tracker ask for a
 * proof, and only admins and the job tracker stop a tracker.
 */
export function trackerAccess(method: string): readonly Role[] {
  switch (method) {
    case 'ReadBlock': return [...USERS, 'tasktracker', 'jobtracker'];
    // A peer on this host pulls a copy from the block's file (pullBlock). It learns no more than a
    // path; a tracker on this host can reach its peers' files anyway. (Callers on other hosts are
    // told to read through ReadBlock.)
    case 'LocateBlock': return [...USERS, 'tasktracker'];
    // Proofs of possession are asked by the trusted side and by writers. A tracker that could ask
    // its peers could pass a challenge on instead of answering it; it can still fetch the whole
    // block back from a peer in time to answer (see jobtracker/block_audit.ts), which costs it the
    // transfer.
    case 'ProveBlock': return [...USERS, 'jobtracker'];
    case 'Shutdown': return ['admin', 'jobtracker'];
    // A tracker has no business storing blocks on its peers (it could fill an honest node's disk)
    // or making them pull from where it names; repairs come from the job tracker's heartbeat replies.
    default: return USERS;
  }
}

export function blockHandlers(store: BlockStore, peers: Peers, fault: Fault, lies = new StorageLies(fault, store)): Record<string, Handler> {
  let reads = 0;
  /** A block this node holds: its size, and how its faults treat it. */
  const held = async (digest: string) => {
    const info = await store.get(digest);
    if (!info) throw new BftmrError('DFS_NOT_FOUND', `block ${shortDigest(digest)} is not held here`);
    const dfs = info.owners.includes(DFS_OWNER);
    return { size: info.size, dfs, lying: dfs && lies.corrupts(digest) };
  };
  /** A block this node is asked for: the read's number, and how its faults treat the block. */
  const serving = async (digest: string, challenge: boolean) => {
    const { dfs, lying } = await held(digest);
    return { n: reads++, block: { dfs, lying, challenge } };
  };
  return {
    WriteBlock: clientStream<BlockChunk, WriteBlockReply>(async (chunks) => {
      const xx = await loadXXHash();
      let claimed = '';
      async function* data() {
        for await (const c of chunks) {
          if (xx.h32(c.data) !== c.xxh32) throw new BftmrError('DFS_DIGEST_MISMATCH', 'an uploaded chunk failed its checksum');
          if (c.data.length) yield c.data;
          if (c.last) claimed = c.digest;
        }
      }
      const info = await store.put(data(), DFS_OWNER, () => claimed);
      await lies.stored(info.digest);
      return { digest: info.digest, size: info.size };
    }),

    // A writer that gave up (its deadline passed) stops the pull: nothing more is fetched for it.
    PullBlock: unary<PullBlockRequest, PullBlockReply>((req, _peer, signal) => pullForWriter(store, peers, lies, req, signal)),

    AdoptBlock: serverStream<AdoptBlockRequest, AdoptBlockProgress>((req, signal, peer) => adoptBlock(store, lies, req, peer, signal)),

    ReadBlock: serverStream<ReadBlockRequest, BlockChunk>(async function* (req) {
      const xx = await loadXXHash();
      const { n, block } = await serving(req.digest, false);
      // Read into chunk buffers, which encodeChunk makes the message in place and chunkSent pools
      // (dfs/chunk_codec.ts): no fresh memory per chunk. (From O_DIRECT's stages each chunk was
      // copied into a new buffer: serving 1 GB cost the node 1.1 CPU-s more.)
      for await (const data of store.read(req.digest, req.offset, req.length, chunkBuffer, true)) {
        const served = corruptServed(fault, n, data, block);
        // The checksum covers what is sent: corruption on purpose passes it and is caught by the digest.
        yield encodeChunk(served, xx.h32(served));
      }
    }, chunkSent),

    // A client or a pulling peer on this host reads the file itself (dfs/short_circuit.ts), and
    // checks it as it would served bytes. The path says where the bytes are, or that they are gone (empty).
    // Only a caller on this host is told where the file is: no other could open it.
    LocateBlock: unary<LocateBlockRequest, LocateBlockReply>(async (req, peer) => {
      const block = await held(req.digest);
      const file = altersServed(fault, block) || !onCallersHost(peer) ? undefined : store.localPath(req.digest);
      return { path: file ? path.resolve(file) : '', size: block.size };
    }),

    // The job tracker's audit (jobtracker/block_audit.ts): a MAC under its fresh nonce of the
    // bytes this node would serve.
    ProveBlock: unary<ProveBlockRequest, ProveBlockReply>(async (req) => {
      const { n, block } = await serving(req.digest, true);
      const mac = newProofMac(req.nonce);
      for await (const data of store.read(req.digest, 0, 0, reusedMemory())) mac.update(corruptServed(fault, n, data, block));
      if (block.dfs) await lies.challenged(req.digest);
      return { mac: mac.digest() };
    }),
  };
}
