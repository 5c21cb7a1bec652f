import test from 'ava';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { DIRECT_ALIGN, FileReader, FileWriter } from '../lib/direct_io.ts';
import { tempDir } from './helpers/temp.ts';

const dir = tempDir('bftmr-file-writer-');
const MB = 1 << 20;

/** Whether this file system lets a file be opened for O_DIRECT writes at all. */
const directSupported = (() => {
  try {
    fs.closeSync(fs.openSync(path.join(dir, 'probe'), fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_DIRECT));
    return true;
  } catch {
    return false;
  }
})();

/** Pieces of `data` of sizes that cross stage and page boundaries every which way. */
function pieces(data: Buffer, seed: number): Buffer[] {
  const sizes = [0, 1, 4095, 4096, 4097, MB - 3, MB, 2 * MB + 7, 12345, 65536];
  const out: Buffer[] = [];
  for (let at = 0, k = seed; at < data.length; k++) {
    const n = Math.min(sizes[k % sizes.length]!, data.length - at);
    out.push(data.subarray(at, at + n));
    at += n;
  }
  return out;
}

for (const direct of [true, false]) {
  for (const size of [0, 1, 4096, 5000, 3 * MB, 3 * MB + 123, 7 * MB + 4096]) {
    test.serial(`a whole file of ${size} bytes, ${direct ? 'around the page cache' : 'plain'}, is written as given`, async (t) => {
      const file = path.join(dir, `whole-${direct}-${size}`);
      fs.writeFileSync(file, randomBytes(9 * MB)); // longer than what replaces it: create empties it
      const data = randomBytes(size);
      const w = await FileWriter.open(file, 0, { create: true, direct });
      t.is(w.direct, direct && directSupported);
      for (const p of pieces(data, size)) await w.write(p);
      t.is(await w.close(true), size);
      t.true(fs.readFileSync(file).equals(data));
    });
  }
}

test.serial('writers of ranges of one file, side by side, leave the bytes around them alone', async (t) => {
  const file = path.join(dir, 'ranges');
  const before = randomBytes(20 * MB);
  fs.writeFileSync(file, before);
  const expected = Buffer.from(before);
  // Aligned starts (direct), an unaligned one (plain), ends that fall mid-page (their tails plain).
  const ranges = [[0, 3 * MB + 10], [4 * MB, 2 * MB], [7 * MB + 100, MB], [9 * MB, 5 * DIRECT_ALIGN + 1], [12 * MB, 3 * MB]] as const;
  const writers = await Promise.all(ranges.map(([start]) => FileWriter.open(file, start)));
  t.deepEqual(writers.map((w) => w.direct), ranges.map(([start]) => directSupported && start % DIRECT_ALIGN === 0));
  await Promise.all(ranges.map(async ([start, length], i) => {
    const data = randomBytes(length);
    data.copy(expected, start);
    for (const p of pieces(data, i)) await writers[i]!.write(p);
    t.is(await writers[i]!.close(false), length);
  }));
  t.true(fs.readFileSync(file).equals(expected));
});

test.serial('the aligned memory is shared by a few writers at a time; the rest write plainly, and it comes back on close and abort', async (t) => {
  const open = await Promise.all(Array.from({ length: 8 }, (_, i) => FileWriter.open(path.join(dir, `many-${i}`), 0, { create: true })));
  const directs = open.filter((w) => w.direct).length;
  if (directSupported) t.true(directs > 0 && directs < 8);
  const data = randomBytes(MB + 5);
  await Promise.all(open.map(async (w, i) => {
    await w.write(data);
    if (i % 2) await w.abort();
    else t.is(await w.close(true), data.length);
  }));
  for (let i = 0; i < 8; i += 2) t.true(fs.readFileSync(path.join(dir, `many-${i}`)).equals(data));
  const again = await Promise.all(Array.from({ length: directs }, (_, i) => FileWriter.open(path.join(dir, `again-${i}`), 0, { create: true })));
  t.true(again.every((w) => w.direct === directSupported));
  await Promise.all(again.map((w) => w.abort()));
});

test.serial('an error of the file system reaches the writer', async (t) => {
  await t.throwsAsync(FileWriter.open(path.join(dir, 'no-such-dir', 'f'), 0, { create: true }), { code: 'ENOENT' });
  // Its aligned memory is not kept by the failed open.
  const w = await FileWriter.open(path.join(dir, 'after-error'), 0, { create: true });
  t.is(w.direct, directSupported);
  await w.abort();
});

/** What a reader yields for [offset, end), each piece copied out before the next is asked for. */
async function readAll(r: FileReader, offset: number, end: number, stopAfter = Infinity): Promise<Buffer> {
  const out: Buffer[] = [];
  const spare = Buffer.alloc(MB);
  for await (const piece of r.pieces(offset, end, (n) => spare.subarray(0, n))) {
    out.push(Buffer.from(piece));
    if (out.length >= stopAfter) break;
  }
  return Buffer.concat(out);
}

test.serial('a reader gives the bytes of any range, around the page cache or not, and a stopped one gives its memory back safely', async (t) => {
  const file = path.join(dir, 'to-read');
  const data = randomBytes(5 * MB + 777);
  fs.writeFileSync(file, data);
  for (const direct of [true, false]) {
    const r = await FileReader.open(file, { direct });
    t.is(r.direct, direct && directSupported);
    for (const [offset, end] of [[0, data.length], [0, 10 * MB], [MB, 3 * MB], [4096, 4097], [5 * MB, data.length], [100, 2 * MB + 5], [0, 0], [0, 1]] as const) {
      t.true((await readAll(r, offset, end)).equals(data.subarray(offset, Math.min(end, data.length))), `${direct} [${offset}, ${end})`);
    }
    // Stopped after one piece, with the next being read ahead into the other stage.
    t.true((await readAll(r, 0, data.length, 1)).equals(data.subarray(0, MB)));
    await r.close();
  }
  // Every set of stages is free again, and whole: writers that take them all write the right bytes.
  const writers = await Promise.all(Array.from({ length: 6 }, (_, i) => FileWriter.open(path.join(dir, `after-read-${i}`), 0, { create: true })));
  t.true(writers.every((w) => w.direct === directSupported));
  const more = randomBytes(3 * MB);
  await Promise.all(writers.map(async (w) => { await w.write(more); await w.close(true); }));
  for (let i = 0; i < 6; i++) t.true(fs.readFileSync(path.join(dir, `after-read-${i}`)).equals(more));
});

test.serial('a reader of a missing file fails as opening it does, keeping no aligned memory', async (t) => {
  for (let i = 0; i < 8; i++) await t.throwsAsync(FileReader.open(path.join(dir, 'missing')), { code: 'ENOENT' });
  const r = await FileReader.open(path.join(dir, 'to-read'));
  t.is(r.direct, directSupported);
  await r.close();
});

test.serial('a reader of a path someone else named opens a regular file only: no symbolic link is followed, no FIFO waited on', async (t) => {
  const file = path.join(dir, 'named');
  const data = randomBytes(2 * MB + 5);
  fs.writeFileSync(file, data);
  for (const direct of [true, false]) {
    const r = await FileReader.open(file, { untrusted: true, direct });
    t.true((await readAll(r, 0, data.length)).equals(data));
    // A piece that is not aligned reopens the file for plain reads (checked again).
    t.true((await readAll(r, 3, 5000)).equals(data.subarray(3, 5000)));
    await r.close();
  }
  const link = path.join(dir, 'named-link');
  fs.symlinkSync(file, link);
  await t.throwsAsync(FileReader.open(link, { untrusted: true }), { code: 'ELOOP' });
  t.is(await (await FileReader.open(link)).close(), undefined, 'a trusted path may be a link');
  const fifo = path.join(dir, 'named-fifo');
  execFileSync('mkfifo', [fifo]);
  // Opened plainly, a FIFO with no writer would block the open for good.
  await t.throwsAsync(FileReader.open(fifo, { untrusted: true }), { code: 'ENOTREG' });
  await t.throwsAsync(FileReader.open(dir, { untrusted: true }), { code: 'ENOTREG' });
  // None kept a set of aligned stages.
  const writers = await Promise.all(Array.from({ length: 6 }, (_, i) => FileWriter.open(path.join(dir, `after-untrusted-${i}`), 0, { create: true })));
  t.true(writers.every((w) => w.direct === directSupported));
  await Promise.all(writers.map((w) => w.close(true)));
});

test.serial('a read ahead that fails while the caller is busy with the last piece fails the next piece, not the process', async (t) => {
  const file = path.join(dir, 'read-ahead');
  fs.writeFileSync(file, randomBytes(4 * MB));
  const r = await FileReader.open(file);
  if (!r.direct) { await r.close(); t.pass('no O_DIRECT here: nothing is read ahead'); return; }
  const probe = await fsp.open(file);
  const proto = Object.getPrototypeOf(probe) as { read: (...a: unknown[]) => Promise<unknown> };
  await probe.close();
  const real = proto.read;
  let calls = 0;
  // Plain node would die of an unhandled rejection; ava's worker only notes it, so it is watched here.
  const unhandled: unknown[] = [];
  const watch = (e: unknown) => unhandled.push(e);
  process.on('unhandledRejection', watch);
  proto.read = function (this: unknown, ...a: unknown[]) {
    return ++calls === 2 ? new Promise((_, reject) => setTimeout(() => reject(Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' })), 10)) : real.apply(this, a);
  };
  try {
    const it = r.pieces(0, 4 * MB, (n) => Buffer.alloc(n));
    t.is((await it.next()).value.length, MB);
    await sleep(50); // the read ahead fails meanwhile
    await t.throwsAsync(it.next(), { code: 'EIO' });
    t.deepEqual(unhandled, []);
  } finally {
    process.off('unhandledRejection', watch);
    proto.read = real;
    await r.close();
  }
});
