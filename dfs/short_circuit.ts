/**
 * Short-circuit reads (HDFS's dfs.client.read.shortcircuit): a client on the same host as a
 * storage node reads a block's file itself instead of having the node stream it over gRPC, which
 * spares both processes the TLS, the framing and the copies. The node says where the file is
 * (LocateBlock); the bytes are checked exactly as served ones are (the reader's sink verifies the
 * SHA-256 the job tracker keeps), so a node gains nothing by naming the wrong file. A node that
 * alters what it serves declines (tasktracker/faults.ts): the read then goes through it.
 *
 * The path a node names is opened only if the node is on this host's loopback or own addresses,
 * the path ends in the block's digest and is a regular file (no symbolic link followed, no FIFO
 * waited on); at most the block's size is read from it, and a read that stalls is given up as a
 * silent source is (lib/source_pace.ts). Anything else, and the read goes through the node.
 *
 * What a node cannot be held to here: naming another node's file of the block (its readers then
 * get right bytes from it without its holding them, and do not report it when it lost its copy);
 * the job tracker's audits, and readers on other hosts, still check its own copy.
 */
import path from 'node:path';
import { BftmrError } from '../lib/errors.ts';
import { isSilence } from '../lib/rpc.ts';
import type { Location, LocateBlockReply, LocateBlockRequest } from '../lib/messages.ts';
import { FileReader } from '../lib/direct_io.ts';
import { onThisHost } from '../lib/hosts.ts';
import { kSourcePace } from '../lib/source_pace.ts';
import type { BlockRange } from './block_transfer.ts';
import { reusedMemory } from './block_store.ts';
import type { Peers } from './peers.ts';

/** The bytes of `range` of block `ref` as `source`'s file holds them, or undefined when they cannot be read that way. */
export type LocalRead = (source: Location, ref: { digest: string; size: number }, range: BlockRange) =>
  Promise<AsyncIterable<Uint8Array> | undefined>;

/** Reads through `peers`' nodes' files when they are on this host; a node or a file silent for `stallMs` is given up. */
export function shortCircuit(peers: Peers, stallMs = kSourcePace.stallMs): LocalRead {
  return async (source, ref, range) => {
    if (!onThisHost(source.address)) return undefined;
    let where: LocateBlockReply;
    try {
      where = await peers.get(source.address).call<LocateBlockRequest, LocateBlockReply>('LocateBlock', { digest: ref.digest }, stallMs);
    } catch (e) {
      // A node that does not answer (in time) is taken as silent (dfs/peers.ts): its replica goes last.
      if (isSilence(e)) peers.silenced(source);
      return undefined; // not held there, or a node of a build without it: ReadBlock says which
    }
    if (!where.path || !path.isAbsolute(where.path) || path.basename(where.path) !== ref.digest) return undefined;
    const end = range.length > 0 ? Math.min(ref.size, range.offset + range.length) : ref.size;
    return fileBytes(where.path, range.offset, end, stallMs);
  };
}

/** `p`, or UNAVAILABLE after `ms` without it. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new BftmrError('UNAVAILABLE', `${what}: nothing for ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/**
 * Bytes [start, end) of a file someone else named, opened when the first piece is asked for (a
 * reader that never asks holds nothing). An open or a piece that takes more than `stallMs` fails
 * the read with UNAVAILABLE; what hangs is left to finish on its own, and its file is closed then.
 * Each piece is valid only until the next is asked for: read around the page cache or through it
 * (`direct` false), the pieces share the reader's memory.
 */
export async function* fileBytes(file: string, start: number, end: number, stallMs: number, direct = true): AsyncGenerator<Uint8Array> {
  const what = `reading ${file}`;
  const opening = FileReader.open(file, { untrusted: true, direct });
  const reader = await within(opening, stallMs, what).catch((e: unknown) => {
    void opening.then((r) => r.close(), () => {});
    throw e;
  });
  const pieces = reader.pieces(start, end, reusedMemory());
  let stalled = false;
  try {
    for (;;) {
      const step = await within(pieces.next(), stallMs, what).catch((e: unknown) => { stalled = true; throw e; });
      if (step.done) return;
      yield step.value;
    }
  } finally {
    // After a stall the pending read ends the pieces first (whenever it does); then the file closes.
    const closing = pieces.return(undefined).then(() => reader.close(), () => reader.close());
    if (!stalled) await closing;
  }
}
