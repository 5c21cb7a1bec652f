import xxhashWasm from 'xxhash-wasm';

/**
 * xxhash is for what no adversary decides: partitioning keys and catching accidental corruption.
 * Never for votes (a faulty node can forge collisions at will).
 */
export interface XXHash {
  h32(data: Uint8Array): number;
}

let instance: Promise<XXHash> | undefined;

export function loadXXHash(): Promise<XXHash> {
  instance ??= xxhashWasm().then((h) => ({ h32: (data: Uint8Array) => h.h32Raw(data, 0) >>> 0 }));
  return instance;
}
