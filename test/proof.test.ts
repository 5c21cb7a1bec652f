import test from 'ava';
import { randomBytes } from 'node:crypto';
import { isBftmrError } from '../lib/errors.ts';
import { newNonce, newProofMac } from '../lib/proof.ts';

const macOf = (nonce: Buffer, ...parts: Uint8Array[]) => {
  const m = newProofMac(nonce);
  for (const p of parts) m.update(p);
  return m.digest();
};

test('a proof MAC depends on the bytes and the nonce, not on how the bytes are chunked', (t) => {
  const bytes = randomBytes(3 * 65536 + 7);
  const nonce = newNonce();
  const whole = macOf(nonce, bytes);
  t.is(whole.length, 16);
  t.deepEqual(macOf(nonce, bytes.subarray(0, 5), bytes.subarray(5, 70001), new Uint8Array(0), bytes.subarray(70001)), whole);
  const flipped = Buffer.from(bytes);
  flipped[100_000] ^= 1;
  t.notDeepEqual(macOf(nonce, flipped), whole);
  t.notDeepEqual(macOf(nonce, bytes.subarray(0, bytes.length - 1)), whole);
  t.notDeepEqual(macOf(newNonce(), bytes), whole);
});

test('a nonce of the wrong size is refused', (t) => {
  const e = t.throws(() => newProofMac(randomBytes(16)));
  t.true(isBftmrError(e, 'BAD_REQUEST'));
});
