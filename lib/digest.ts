import { createHash, type Hash } from 'node:crypto';

/** Digests that decide votes and name blocks: SHA-256, lower-case hex. */
export type Digest = string;

export const EMPTY_DIGEST: Digest = sha256(new Uint8Array(0));

export function sha256(data: Uint8Array | string): Digest {
  return createHash('sha256').update(data).digest('hex');
}

export function newHasher(): Hash {
  return createHash('sha256');
}

const HEX64 = /^[0-9a-f]{64}$/;
export function isDigest(s: string): boolean {
  return HEX64.test(s);
}

export function shortDigest(d: Digest): string {
  return d.slice(0, 12);
}
