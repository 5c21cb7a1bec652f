/**
 * Proofs of possession: a MAC of a block's bytes under a key (the nonce) that the prover sees only
 * when challenged, so it can answer only by reading the bytes then; or, sent along with a copy it
 * is to take (a put's hand-over or pull), only by taking them.
 *
 * The MAC is GMAC: AES-256-GCM with the bytes as associated data and nothing encrypted. Its GHASH
 * is the bytes read as a polynomial, evaluated at a point derived from the key; a node that does
 * not hold the bytes cannot evaluate it at a point it learns only with the challenge (two different
 * blocks give the same tag for a negligible fraction of keys). With the CPU's AES and carry-less
 * multiply instructions it runs at about 8 GB/s here, against 1.7 GB/s for HMAC-SHA256, which
 * matters because a put computes one per copy and every challenged node one per answer. Each nonce
 * is drawn fresh and used for one challenge, so the fixed IV never repeats under a key that a
 * verifier still keeps secret.
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import { BftmrError } from './errors.ts';

export const NONCE_BYTES = 32;
const IV = Buffer.alloc(12);

export interface ProofMac {
  update(data: Uint8Array): void;
  digest(): Buffer;
}

export function newNonce(): Buffer {
  return randomBytes(NONCE_BYTES);
}

export function newProofMac(nonce: Uint8Array): ProofMac {
  if (nonce.length !== NONCE_BYTES) {
    throw new BftmrError('BAD_REQUEST', `a proof nonce has ${NONCE_BYTES} bytes, not ${nonce.length}`);
  }
  const gcm = createCipheriv('aes-256-gcm', nonce, IV);
  return {
    update(data) { if (data.length) gcm.setAAD(data); },
    digest() { gcm.final(); return gcm.getAuthTag(); },
  };
}
