import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { readSplitLines, type LocalBlock } from '../tasktracker/line_reader.ts';
import { splitReads } from '../lib/split_reads.ts';
import { tempDir } from './helpers/temp.ts';

/** Writes `data` as blocks of `blockBytes` and returns them. */
function blocksOf(data: Buffer, blockBytes: number): LocalBlock[] {
  const dir = tempDir('bftmr-lr-');
  const blocks: LocalBlock[] = [];
  for (let off = 0; off < data.length; off += blockBytes) {
    const p = path.join(dir, String(off));
    const bytes = data.subarray(off, off + blockBytes);
    fs.writeFileSync(p, bytes);
    blocks.push({ path: p, fileOffset: off, size: bytes.length });
  }
  return blocks;
}

function expectedLines(text: string): { line: string; offset: number }[] {
  const out: { line: string; offset: number }[] = [];
  let off = 0;
  const bytes = Buffer.from(text);
  let start = 0;
  for (let i = 0; i <= bytes.length; i++) {
    if (i === bytes.length || bytes[i] === 10) {
      if (i === bytes.length && start === i) break;
      let stop = i;
      if (stop > start && bytes[stop - 1] === 13) stop--;
      out.push({ line: bytes.toString('utf8', start, stop), offset: start });
      start = i + 1;
    }
  }
  void off;
  return out;
}

function readAll(data: Buffer, blockBytes: number, splitBytes: number, chunkBytes: number) {
  const blocks = blocksOf(data, blockBytes);
  const got: { line: string; offset: number }[] = [];
  for (let s = 0; s < data.length; s += splitBytes) {
    readSplitLines(blocks, s, Math.min(s + splitBytes, data.length), data.length, (line, offset) => got.push({ line, offset }), chunkBytes);
  }
  return got;
}

const samples: Record<string, string> = {
  'unix lines': 'alpha beta\ngamma\n\ndelta epsilon zeta\nlast\n',
  'no final newline': 'one\ntwo\nthree',
  'crlf lines': 'one\r\ntwo\r\n\r\nthree\r\n',
  'utf-8 text': 'naïve café\nÅngström über\n日本語のテキスト\n😀 emoji line\nplain\n',
  'a long line': 'short\n' + 'x'.repeat(300) + '\nshort again\n',
  'lone \\r is not a line end': 'a\rb\nc\n',
};

for (const [name, text] of Object.entries(samples)) {
  test(`every line read exactly once across splits: ${name}`, (t) => {
    const data = Buffer.from(text);
    const expected = expectedLines(text);
    for (const blockBytes of [1, 3, 7, 64, 1 << 20]) {
      for (const splitBytes of [1, 2, 5, 13, 1 << 20]) {
        for (const chunkBytes of [1, 4, 1024]) {
          t.deepEqual(readAll(data, blockBytes, splitBytes, chunkBytes), expected, `block ${blockBytes} split ${splitBytes} chunk ${chunkBytes}`);
        }
      }
    }
  });
}

test('every line read exactly once over block boundaries, on real-sized data', (t) => {
  const words = ['lorem', 'ipsum', 'dolor', 'sit', 'amet', 'ünïcode', ''];
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const lines: string[] = [];
  for (let i = 0; i < 20000; i++) lines.push(Array.from({ length: Math.floor(rnd() * 12) }, () => words[Math.floor(rnd() * words.length)]).join(' '));
  const text = lines.join(rnd() < 0.5 ? '\n' : '\r\n') + '\n';
  const data = Buffer.from(text);
  const expected = expectedLines(text);
  t.deepEqual(readAll(data, 65536, 65536, 4096), expected);
  t.deepEqual(readAll(data, 65536, 30000, 1 << 20), expected);
});

test('a split needs only its own blocks and the next (never the one before it)', (t) => {
  const text = Array.from({ length: 3000 }, (_, i) => `line ${i} ${'z'.repeat(i % 40)}`).join('\n') + '\n';
  const data = Buffer.from(text);
  for (const blockBytes of [4096, 5000]) {
    const blocks = blocksOf(data, blockBytes);
    const fileBlocks = blocks.map((b) => ({ block: { digest: b.path, size: b.size, replicas: [] }, offset: b.fileOffset }));
    for (const splitBytes of [blockBytes, 1000]) {
      const got: { line: string; offset: number }[] = [];
      for (let s = 0; s < data.length; s += splitBytes) {
        const given = new Set(splitReads(fileBlocks, s, Math.min(splitBytes, data.length - s)).map((b) => b.block.digest));
        t.false([...given].some((p) => blocks.find((b) => b.path === p)!.fileOffset + blockBytes <= s), 'no block wholly before the split');
        readSplitLines(blocks.filter((b) => given.has(b.path)), s, Math.min(s + splitBytes, data.length), data.length,
          (line, offset) => got.push({ line, offset }));
      }
      t.deepEqual(got, expectedLines(text), `block ${blockBytes} split ${splitBytes}`);
    }
  }
});

test('of the block after its split, a map needs only the head up to its first line end', (t) => {
  const text = Array.from({ length: 3000 }, (_, i) => `line ${i} ${'z'.repeat(i % 40)}`).join('\n') + '\n';
  const data = Buffer.from(text);
  const dir = tempDir('bftmr-head-');
  for (const blockBytes of [4096, 5000]) {
    const blocks = blocksOf(data, blockBytes);
    // The head of each block cut right after its first '\n', or a few bytes further.
    for (const extra of [0, 7]) {
      const got: { line: string; offset: number }[] = [];
      for (let s = 0; s < data.length; s += blockBytes) {
        const own = blocks.find((b) => b.fileOffset === s)!;
        const next = blocks.find((b) => b.fileOffset === s + blockBytes);
        const given = [own];
        if (next) {
          const bytes = fs.readFileSync(next.path);
          const head = bytes.subarray(0, Math.min(bytes.length, bytes.indexOf(10) + 1 + extra));
          const p = path.join(dir, `${blockBytes}-${extra}-${s}`);
          fs.writeFileSync(p, head);
          given.push({ path: p, fileOffset: next.fileOffset, size: head.length });
        }
        readSplitLines(given, s, Math.min(s + blockBytes, data.length), data.length, (line, offset) => got.push({ line, offset }));
      }
      t.deepEqual(got, expectedLines(text), `block ${blockBytes}, head ${extra} bytes past its first line end`);
    }
  }
});

test('a line running past the blocks given is an error, not a silent cut', (t) => {
  const data = Buffer.from('abc\n' + 'y'.repeat(100) + '\n');
  const blocks = blocksOf(data, 16);
  t.throws(() => readSplitLines(blocks.slice(0, 2), 0, 16, data.length, () => {}), { message: /runs past the blocks/ });
});
