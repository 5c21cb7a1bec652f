/**
 * Moving block bytes between nodes. Every chunk carries an xxhash32 so accidental corruption is
 * caught mid-stream; the SHA-256 of the whole block, known to the trusted side, catches the
 * rest. A reader that gets bad bytes from one replica says so and tries the next.
 */
import { BftmrError, messageOf } from '../lib/errors.ts';
import { shortDigest } from '../lib/digest.ts';
import type { BlockChunk, BlockRef, Location, ReadBlockRequest } from '../lib/messages.ts';
import { loadXXHash } from '../lib/xxhash.ts';
import { kSourcePace, type SourcePace } from '../lib/source_pace.ts';
import type { Peers } from './peers.ts';
import type { LocalRead } from './short_circuit.ts';
import { onThisHost } from '../lib/hosts.ts';

/** Long transfers get a generous deadline; a stalled peer is cut off by keepalive. */
export const TRANSFER_DEADLINE_MS = 10 * 60_000;

/** Bytes [offset, offset+length) of a block; length 0: to its end. */
export interface BlockRange { offset: number; length: number }
export const WHOLE: BlockRange = { offset: 0, length: 0 };

/**
 * The chunks of a block (or of `range` of it) as `address` serves them, checked chunk by chunk
 * with xxhash32.
 */
export async function* streamBlock(peers: Peers, address: string, digest: string, signal?: AbortSignal,
  pace: SourcePace = kSourcePace, range: BlockRange = WHOLE): AsyncGenerator<Uint8Array> {
  const xx = await loadXXHash();
  const req: ReadBlockRequest = { digest, offset: range.offset, length: range.length };
  signal?.throwIfAborted();
  const cut = new AbortController();
  const follow = () => cut.abort(signal?.reason);
  signal?.addEventListener('abort', follow, { once: true });
  let tooSlow: string | undefined;
  const giveUp = (why: string) => { tooSlow ??= `block ${shortDigest(digest)} from ${address}: ${why}`; cut.abort(); };
  let waitedMs = 0;
  let bytes = 0;
  let since = performance.now();
  let timer = setTimeout(() => giveUp(`no bytes for ${pace.stallMs} ms`), pace.stallMs);
  try {
    for await (const chunk of peers.get(address).stream<ReadBlockRequest, BlockChunk>('ReadBlock', req, TRANSFER_DEADLINE_MS, cut.signal)) {
      clearTimeout(timer);
      waitedMs += performance.now() - since;
      bytes += chunk.data.length;
      if (waitedMs > pace.graceMs && bytes / (waitedMs / 1000) < pace.minBytesPerSec) {
        giveUp(`${Math.round(bytes / waitedMs * 1000 / 1024)} KB/s, under the ${pace.minBytesPerSec / 1024} KB/s a source must keep up`);
        break;
      }
      if (xx.h32(chunk.data) !== chunk.xxh32) {
        throw new BftmrError('DFS_DIGEST_MISMATCH', `a chunk of block ${shortDigest(digest)} from ${address} failed its checksum`);
      }
      yield chunk.data;
      since = performance.now();
      timer = setTimeout(() => giveUp(`no bytes for ${pace.stallMs} ms`), pace.stallMs);
    }
  } catch (e) {
    if (!tooSlow) throw e;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', follow);
  }
  if (tooSlow) {
    peers.silenced({ address });
    throw new BftmrError('UNAVAILABLE', tooSlow);
  }
  peers.heard({ address });
}

/** How many bytes `range` of a block of `size` bytes holds. */
function bytesOf(size: number, range: BlockRange): number {
  const left = Math.max(0, size - range.offset);
  return range.length > 0 ? Math.min(range.length, left) : left;
}

/**
 * `chunks`, failing as bad bytes once they go past `limit`: a source that streams valid chunks
 * beyond the block's size would otherwise fill the reader's disk (or memory) until its deadline,
 * and a sink writing at the block's offset in a file would write over the next block's bytes.
 */
async function* atMost(chunks: AsyncIterable<Uint8Array>, limit: number, digest: string, address: string): AsyncGenerator<Uint8Array> {
  let n = 0;
  for await (const c of chunks) {
    n += c.length;
    if (n > limit) throw new BftmrError('DFS_DIGEST_MISMATCH', `${address} served more than the ${limit} bytes asked of block ${shortDigest(digest)}`);
    yield c;
  }
}

/**
 * The order a reader tries a block's replicas in: those on this host first (a short-circuit read
 * costs no stream), each group shuffled, as HDFS's client shuffles the replicas at one distance.
 * Reads spread over the copies, and every copy, not just the one a put made first, meets readers
 * (who check it against the digest and report a liar).
 */
export function readOrder<T extends Pick<Location, 'address'>>(replicas: readonly T[], random: () => number = Math.random): T[] {
  const shuffled = [...replicas];
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
  }
  return [...shuffled.filter((r) => onThisHost(r.address)), ...shuffled.filter((r) => !onThisHost(r.address))];
}

export interface FetchFailure {
  source: Location;
  /** True when the source answered with bytes that do not match the digest (it is lying or broken). */
  badBytes: boolean;
  /** True when the source said it does not hold the block. */
  missing: boolean;
  error: string;
}

const isMismatch = (e: unknown) => e instanceof BftmrError && e.code === 'DFS_DIGEST_MISMATCH';

/**
 * Streams block `ref` (or `range` of it) from its replicas in turn into `sink`, which must verify
 * what it gets (a block store's put checks the digest) and throw DFS_DIGEST_MISMATCH otherwise;
 * it never gets more bytes than the range holds.
 * With `local` (dfs/short_circuit.ts), a replica whose file this host can read is read from it,
 * and through its node otherwise (or when reading the file failed for another reason than its
 * bytes). Returns the sink's result, the replicas that failed, and whether the bytes came from a
 * file; throws DFS_NO_REPLICA when none delivered the right bytes. Replicas that went silent on
 * this process lately (dfs/peers.ts) are tried last; one that goes silent on the file's look-up
 * is tried again through its node only after the others.
 */
export async function fetchBlock<T>(
  peers: Peers,
  ref: Pick<BlockRef, 'digest' | 'size' | 'replicas'>,
  sink: (chunks: AsyncIterable<Uint8Array>, source: Location) => Promise<T>,
  signal?: AbortSignal,
  range: BlockRange = WHOLE,
  local?: LocalRead,
): Promise<{ result: T; failures: FetchFailure[]; local: boolean }> {
  const failures: FetchFailure[] = [];
  const limit = bytesOf(ref.size, range);
  const queue = peers.silentLast(ref.replicas);
  let deferred: Location | undefined;
  for (let source = queue.shift(); source; source = queue.shift()) {
    signal?.throwIfAborted();
    const wasSilent = peers.isSilent(source);
    const file = wasSilent ? undefined : await local?.(source, ref, range);
    if (!file && !wasSilent && peers.isSilent(source) && queue.length > 0 && !deferred) {
      deferred = source; // it froze: the others first
      queue.push(source);
      continue;
    }
    if (file) {
      try {
        return { result: await sink(atMost(file, limit, ref.digest, `the file of ${source.tracker_id || source.address}`), source), failures, local: true };
      } catch (e) {
        if (isMismatch(e)) {
          failures.push({ source, badBytes: true, missing: false, error: `its file of the block: ${messageOf(e)}` });
          continue;
        }
        signal?.throwIfAborted();
      }
    }
    try {
      const stream = streamBlock(peers, source.address, ref.digest, signal, kSourcePace, range);
      const result = await sink(atMost(stream, limit, ref.digest, source.address), source);
      return { result, failures, local: false };
    } catch (e) {
      const badBytes = isMismatch(e);
      const missing = e instanceof BftmrError && e.code === 'DFS_NOT_FOUND';
      failures.push({ source, badBytes, missing, error: messageOf(e) });
    }
  }
  const why = failures.map((f) => `${f.source.tracker_id || f.source.address}: ${f.error}`).join('; ');
  throw Object.assign(
    new BftmrError('DFS_NO_REPLICA', `no replica of block ${shortDigest(ref.digest)} delivered verified bytes${why ? ` (${why})` : ''}`),
    { failures },
  );
}
