import test from 'ava';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { sha256 } from '../lib/digest.ts';
import { PieceHasher } from '../lib/piece_hasher.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** `bytes` cut into pieces of `size`, each in shared memory of its own place. */
function sharedPieces(bytes: Buffer, size: number): Uint8Array[] {
  const sab = new SharedArrayBuffer(bytes.length + 16);
  new Uint8Array(sab, 16).set(bytes);
  const pieces: Uint8Array[] = [];
  for (let off = 0; off < bytes.length; off += size) pieces.push(new Uint8Array(sab, 16 + off, Math.min(size, bytes.length - off)));
  return pieces;
}

test('pieces in shared memory are hashed in the thread: the digest is the SHA-256 of them all, in order', async (t) => {
  const bytes = randomBytes(3 * 1024 * 1024 + 123);
  const h = new PieceHasher();
  for (const p of sharedPieces(bytes, 1 << 20)) await h.update(p);
  t.is(await h.digest(), sha256(bytes));
});

test('several hashers at once keep their pieces apart; plain pieces, and plain ones after shared ones, count too', async (t) => {
  const a = randomBytes(500_000);
  const b = randomBytes(700_000);
  const ha = new PieceHasher();
  const hb = new PieceHasher();
  const pa = sharedPieces(a, 100_000);
  const pb = sharedPieces(b, 100_000);
  // Interleaved, not awaited one by one: the thread takes them in order.
  const pending: Promise<void>[] = [];
  for (let i = 0; i < pb.length; i++) {
    if (i < 3) pending.push(ha.update(pa[i]!));
    pending.push(hb.update(pb[i]!));
  }
  pending.push(ha.update(a.subarray(300_000))); // a reader that fell back to plain reads
  await Promise.all(pending);
  t.is(await ha.digest(), sha256(a));
  t.is(await hb.digest(), sha256(b));
  const plain = new PieceHasher();
  await plain.update(a.subarray(0, 10));
  await plain.update(sharedPieces(a.subarray(10), 1 << 20)[0]!);
  t.is(await plain.digest(), sha256(a));
  t.is(await new PieceHasher().digest(), sha256(Buffer.alloc(0)));
});

test('a process whose hashing is done exits: the thread holds it open only while it has work', async (t) => {
  const script = `import { PieceHasher } from './lib/piece_hasher.ts';
    const h = new PieceHasher();
    await h.update(new Uint8Array(new SharedArrayBuffer(1024)));
    console.log(await h.digest());
    const dropped = new PieceHasher();
    await dropped.update(new Uint8Array(new SharedArrayBuffer(8)));
    dropped.discard();`;
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, timeout: 60_000 });
  t.is(stdout.trim(), sha256(Buffer.alloc(1024)));
});
