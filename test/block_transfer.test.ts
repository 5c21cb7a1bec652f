import test from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import { isBftmrError } from '../lib/errors.ts';
import { loadXXHash } from '../lib/xxhash.ts';
import type { Peers } from '../dfs/peers.ts';
import { streamBlock } from '../dfs/block_transfer.ts';
import type { SourcePace } from '../lib/source_pace.ts';

const PACE: SourcePace = { stallMs: 300, minBytesPerSec: 100_000, graceMs: 200 };

/** A node serving `chunks`, waiting `gapMs` before each; it stops when the reader cancels. */
async function fakePeers(chunks: number, chunkBytes: number, gapMs: number): Promise<{ peers: Peers; cancelled: () => boolean }> {
  const xx = await loadXXHash();
  let cancelled = false;
  const client = {
    // Like RpcClient.stream: a reader that stops early, or aborts its signal, cancels the call.
    async *stream(_method: string, _req: unknown, _deadline: number, signal?: AbortSignal) {
      let finished = false;
      try {
        for (let i = 0; i < chunks; i++) {
          await sleep(gapMs, undefined, { signal });
          const data = new Uint8Array(chunkBytes).fill(i);
          yield { data, xxh32: xx.h32(data), digest: '', last: false };
        }
        finished = true;
      } finally {
        if (!finished) cancelled = true;
      }
    },
  };
  return { peers: { get: () => client } as unknown as Peers, cancelled: () => cancelled };
}

async function read(peers: Peers, slowReaderMs = 0): Promise<number> {
  let n = 0;
  for await (const c of streamBlock(peers, 'node:1', 'ab'.repeat(32), undefined, PACE)) {
    n += c.length;
    if (slowReaderMs) await sleep(slowReaderMs);
  }
  return n;
}

test('a source that stops sending is cut off, and its stream cancelled', async (t) => {
  const { peers, cancelled } = await fakePeers(3, 1000, 2_000);
  const e = await t.throwsAsync(() => read(peers));
  t.true(isBftmrError(e, 'UNAVAILABLE'));
  t.regex(e!.message, /no bytes for 300 ms/);
  t.true(cancelled());
});

test('a source that trickles bytes under the minimum rate is cut off', async (t) => {
  // 1000 bytes every 50 ms: 20 KB/s against a floor of 100 KB/s, never a stall.
  const { peers, cancelled } = await fakePeers(100, 1000, 50);
  const e = await t.throwsAsync(() => read(peers));
  t.true(isBftmrError(e, 'UNAVAILABLE'));
  t.regex(e!.message, /under the \d+(\.\d+)? KB\/s a source must keep up/);
  t.true(cancelled());
});

test('a source is not blamed for the reader\'s own slowness', async (t) => {
  // 100 KB every 10 ms (10 MB/s) to a reader that spends 100 ms on each chunk: slow overall, but
  // not because of the source.
  const { peers } = await fakePeers(6, 100_000, 10);
  t.is(await read(peers, 100), 600_000);
});
