/**
 * Data chunks of a block transfer, encoded by hand. A block crosses the wire as ~1 MB BlockChunk
 * messages. protobufjs would copy each chunk into a fresh message buffer, and V8 counts every
 * such buffer towards its next full collection. Here a chunk is read straight into a buffer
 * with room in front for the message's header, and the message is that same memory: gRPC's
 * framing copy is the only one. (Field order is free in protobuf; the header puts xxh32 first.)
 * Once gRPC has taken its copy (the write's callback), a full-size buffer goes back to a small
 * pool for the next chunk: a node serving or uploading blocks then allocates one buffer per
 * chunk (gRPC's) instead of two. (Full collections are still a third of a serving node's CPU,
 * mostly of gRPC's own buffers; a 1 GB put takes 5-10% less CPU than without the pool.)
 */
import type { Encoded } from '../lib/rpc.ts';
import type { BlockChunk } from '../lib/messages.ts';
import { kDfsDefaults } from '../lib/options.ts';

/** The longest header: xxh32 (tag, varint of at most 5 bytes) and data's tag and length. */
const HEADROOM = 12;
/** Buffers made by chunkBuffer(): the bytes in front of the view are ours to write. */
const roomy = new WeakSet<ArrayBufferLike>();

const POOLED_BYTES = kDfsDefaults.chunkBytes + HEADROOM;
/** Full-size chunk buffers given back by chunkSent(), at most POOL_MAX (16 MB). */
const pool: ArrayBuffer[] = [];
const inPool = new WeakSet<ArrayBufferLike>();
const POOL_MAX = 16;

/** Memory for `n` bytes of a chunk, with room in front for its header. */
export function chunkBuffer(n: number): Buffer {
  // Chunks of more than half the full size get a full-size buffer, which can be pooled.
  const full = n <= kDfsDefaults.chunkBytes && n > kDfsDefaults.chunkBytes / 2;
  const spare = full ? pool.pop() : undefined;
  if (spare) inPool.delete(spare);
  const whole = spare ? Buffer.from(spare) : Buffer.allocUnsafeSlow(full ? POOLED_BYTES : n + HEADROOM);
  roomy.add(whole.buffer);
  return whole.subarray(HEADROOM, HEADROOM + n);
}

/**
 * `msg` (an encodeChunk() result, or any message) has been handed to gRPC, which copied it: its
 * memory may serve the next chunk. Only a sender that no longer reads the chunk may say so.
 */
export function chunkSent(msg: Uint8Array): void {
  const ab = msg.buffer;
  if (ab.byteLength !== POOLED_BYTES || !roomy.has(ab) || inPool.has(ab) || pool.length >= POOL_MAX) return;
  inPool.add(ab);
  pool.push(ab as ArrayBuffer);
}

function varint(out: Uint8Array, at: number, v: number): number {
  while (v > 0x7f) {
    out[at++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  out[at++] = v;
  return at;
}

function varintBytes(v: number): number {
  let n = 1;
  while (v > 0x7f) { v >>>= 7; n++; }
  return n;
}

/**
 * The BlockChunk `{ data, xxh32 }` (no digest, not last), encoded. In place when `data` is a
 * whole or leading part of a chunkBuffer(); otherwise in a new buffer.
 */
export function encodeChunk(data: Uint8Array, xxh32: number): Encoded<BlockChunk> {
  const headerBytes = 2 + varintBytes(xxh32) + varintBytes(data.length);
  const inPlace = data.byteOffset === HEADROOM && roomy.has(data.buffer);
  const out = inPlace
    ? Buffer.from(data.buffer, HEADROOM - headerBytes, headerBytes + data.length)
    : Buffer.allocUnsafe(headerBytes + data.length);
  let at = 0;
  out[at++] = 0x10; // field 2 (xxh32), varint
  at = varint(out, at, xxh32 >>> 0);
  out[at++] = 0x0a; // field 1 (data), length-delimited
  at = varint(out, at, data.length);
  if (!inPlace) out.set(data, at);
  return out as Encoded<BlockChunk>;
}
