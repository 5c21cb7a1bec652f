/**
 * Short-circuit reads (HDFS's dfs.client.read.shortcircuit): a client on the same host as a
 * storage node reads a block's file itself instead of having the node stream it over gRPC, which
 * spares both processes the TLS, the framing and the copies. The node says where the file is
 * (LocateBlock); the bytes are checked exactly as served ones are (the reader's sink verifies the
 * SHA-256 the job tracker keeps), so a node gains nothing by naming the wrong file. A node that
 * alters what it serves declines (tasktracker/faults.ts): the read then goes through it.
 *
 * The path a node names is opened only if it is on this host's loopback or own addresses, ends in
 * the block's digest, and is a regular file (no symbolic link followed, no FIFO waited on); at
 * most the block's size is read from it. Anything else, and the read goes over the network.
 */
import path from 'node:path';
import type { Location, LocateBlockReply, LocateBlockRequest } from '../lib/messages.ts';
import { FileReader } from '../lib/direct_io.ts';
import { onThisHost } from '../lib/hosts.ts';
import { kClusterDefaults } from '../lib/options.ts';
import type { BlockRange } from './block_transfer.ts';
import type { Peers } from './peers.ts';

/** The bytes of `range` of block `ref` as `source`'s file holds them, or undefined when they cannot be read that way. */
export type LocalRead = (source: Location, ref: { digest: string; size: number }, range: BlockRange) =>
  Promise<AsyncIterable<Uint8Array> | undefined>;

/** Reads through `peers`' nodes' files when they are on this host. */
export function shortCircuit(peers: Peers, deadlineMs = kClusterDefaults.rpcDeadlineMs): LocalRead {
  return async (source, ref, range) => {
    if (!onThisHost(source.address)) return undefined;
    let where: LocateBlockReply;
    try {
      where = await peers.get(source.address).call<LocateBlockRequest, LocateBlockReply>('LocateBlock', { digest: ref.digest }, deadlineMs);
    } catch {
      return undefined; // not held there, or a node of a build without it: ReadBlock says which
    }
    if (!where.path || !path.isAbsolute(where.path) || path.basename(where.path) !== ref.digest) return undefined;
    let reader: FileReader;
    try {
      reader = await FileReader.open(where.path, { untrusted: true });
    } catch {
      return undefined; // another host's path after all, or the file just went
    }
    const end = range.length > 0 ? Math.min(ref.size, range.offset + range.length) : ref.size;
    return (async function* () {
      try {
        yield* reader.pieces(range.offset, end, (n) => Buffer.allocUnsafeSlow(n));
      } finally {
        await reader.close();
      }
    })();
  };
}
