/** The TaskTracker gRPC service's block calls: upload, pull from a peer, and serve. */
import { BftmrError } from '../lib/errors.ts';
import { clientStream, serverStream, unary, type Handler } from '../lib/rpc.ts';
import type { BlockChunk, PullBlockRequest, ReadBlockRequest, WriteBlockReply } from '../lib/messages.ts';
import { loadXXHash } from '../lib/xxhash.ts';
import { shortDigest } from '../lib/digest.ts';
import { DFS_OWNER, type BlockStore } from '../dfs/block_store.ts';
import { fetchBlock } from '../dfs/block_transfer.ts';
import type { Peers } from '../dfs/peers.ts';
import { corruptServed, type Fault } from './faults.ts';

export function blockHandlers(store: BlockStore, peers: Peers, fault: Fault): Record<string, Handler> {
  let reads = 0;
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
      return { digest: info.digest, size: info.size };
    }),

    PullBlock: unary<PullBlockRequest, WriteBlockReply>(async (req) => {
      const held = await store.get(req.digest);
      if (held) {
        await store.addOwner(req.digest, DFS_OWNER);
        return { digest: held.digest, size: held.size };
      }
      const { result } = await fetchBlock(peers, { digest: req.digest, size: req.size, replicas: req.sources },
        (chunks) => store.put(chunks, DFS_OWNER, req.digest));
      return { digest: result.digest, size: result.size };
    }),

    ReadBlock: serverStream<ReadBlockRequest, BlockChunk>(async function* (req) {
      const xx = await loadXXHash();
      if (!(await store.get(req.digest))) {
        throw new BftmrError('DFS_NOT_FOUND', `block ${shortDigest(req.digest)} is not held here`);
      }
      const n = reads++;
      for await (const data of store.read(req.digest, req.offset, req.length)) {
        const served = corruptServed(fault, n, data);
        // The checksum covers what is sent: corruption on purpose passes it and is caught by the digest.
        yield { data: served, xxh32: xx.h32(served), digest: '', last: false };
      }
    }),
  };
}
