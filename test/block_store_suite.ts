/**
 * The contract of a BlockStore, as tests every implementation runs (like abstract-level's
 * exported suite): the level-backed store of real nodes and the in-memory one of the simulator.
 */
import type { TestFn } from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { sha256 } from '../lib/digest.ts';
import { isBftmrError } from '../lib/errors.ts';
import { DFS_OWNER, type BlockStore } from '../dfs/block_store.ts';
import { tempDir } from './helpers/temp.ts';

async function* chunks(...parts: (string | Buffer)[]): AsyncGenerator<Uint8Array> {
  for (const p of parts) yield Buffer.from(p);
}

async function readAll(store: BlockStore, digest: string, offset?: number, length?: number): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of store.read(digest, offset, length)) parts.push(Buffer.from(c));
  return Buffer.concat(parts).toString();
}

/** `open(now)`: a fresh store whose clock is `now` (Date.now when not given). */
export function blockStoreSuite(test: TestFn, name: string, open: (now?: () => number) => Promise<BlockStore>): void {
  test(`${name}: a block's storedMs is when it was last stored or given an owner, and survives listing`, async (t) => {
    let clock = 1_000;
    const store = await open(() => clock);
    const info = await store.put(chunks('aged'), 'job_1');
    t.is(info.storedMs, 1_000);
    clock = 5_000;
    await store.addOwner(info.digest, DFS_OWNER); // a put that finds the block here already
    t.is((await store.get(info.digest))?.storedMs, 5_000);
    t.deepEqual((await store.get(info.digest))?.owners, ['job_1', DFS_OWNER]);
    clock = 9_000;
    t.is((await store.put(chunks('aged'), DFS_OWNER)).storedMs, 9_000); // stored again: a write may be under way
    const listed = [];
    for await (const b of store.list()) listed.push(b);
    t.deepEqual(listed.map((b) => [b.digest, b.storedMs]), [[info.digest, 9_000]]);
    await store.close();
  });

  test(`${name}: put stores bytes under their SHA-256 and reads them back, whole or in part`, async (t) => {
    const store = await open();
    const info = await store.put(chunks('hello ', 'world'), DFS_OWNER);
    t.is(info.digest, sha256('hello world'));
    t.is(info.size, 11);
    t.is(await readAll(store, info.digest), 'hello world');
    t.is(await readAll(store, info.digest, 6), 'world');
    t.is(await readAll(store, info.digest, 2, 3), 'llo');
    t.deepEqual((await store.get(info.digest))?.owners, [DFS_OWNER]);
    await store.close();
  });

  test(`${name}: a reader may hand back the same memory for every chunk`, async (t) => {
    const store = await open();
    const bytes = Buffer.from(Array.from({ length: 250_000 }, (_, i) => `${i}\n`).join('')); // well over 1 MB
    const info = await store.put(chunks(bytes), DFS_OWNER);
    const scratch = Buffer.alloc(bytes.length);
    for (const [offset, length] of [[0, 0], [1, 0], [777_777, 654_321]] as const) {
      const end = length ? offset + length : bytes.length;
      const hash = createHash('sha256');
      let n = 0;
      for await (const c of store.read(info.digest, offset, length, (size) => scratch.subarray(0, size))) {
        hash.update(c); // each chunk is used up before the next one overwrites it
        n += c.length;
      }
      t.is(n, end - offset);
      t.is(hash.digest('hex'), sha256(bytes.subarray(offset, end)));
    }
    await store.close();
  });

  test(`${name}: bytes that do not match the expected digest are refused and not stored`, async (t) => {
    const store = await open();
    const wrong = sha256('something else');
    const err = await t.throwsAsync(() => store.put(chunks('payload'), DFS_OWNER, wrong));
    t.true(isBftmrError(err, 'DFS_DIGEST_MISMATCH'));
    t.is(await store.get(sha256('payload')), undefined);
    // The expected digest may also be known only once the source is drained.
    let claimed = '';
    async function* late() { yield Buffer.from('payload'); claimed = sha256('tampered'); }
    await t.throwsAsync(() => store.put(late(), DFS_OWNER, () => claimed), { message: /hash to/ });
    t.is(await store.get(sha256('payload')), undefined);
    await store.close();
  });

  test(`${name}: a block lives while some owner holds it`, async (t) => {
    const store = await open();
    const a = await store.put(chunks('shared bytes'), 'job_1');
    await store.put(chunks('shared bytes'), 'job_2');
    await store.put(chunks('only job 1'), 'job_1');
    t.deepEqual((await store.get(a.digest))?.owners.sort(), ['job_1', 'job_2']);
    t.is(await store.release('job_1'), 1); // 'only job 1' goes, the shared block stays
    t.deepEqual((await store.get(a.digest))?.owners, ['job_2']);
    await store.addOwner(a.digest, DFS_OWNER);
    t.is(await store.release('job_2', [a.digest]), 0);
    t.is(await readAll(store, a.digest), 'shared bytes');
    t.is(await store.release(DFS_OWNER), 1);
    t.is(await store.get(a.digest), undefined);
    const e = await t.throwsAsync(async () => { for await (const _ of store.read(a.digest)) { /* drain */ } });
    t.true(isBftmrError(e, 'DFS_NOT_FOUND'));
    await store.close();
  });

  test(`${name}: a release decided before a block was stored again leaves it to its new writer`, async (t) => {
    let clock = 1_000;
    const store = await open(() => clock);
    const old = await store.put(chunks('orphan'), DFS_OWNER);
    const other = await store.put(chunks('other'), DFS_OWNER);
    clock = 3_000;
    await store.put(chunks('orphan'), DFS_OWNER); // a new put of the same bytes, after the decision at 2_000
    t.is(await store.release(DFS_OWNER, [old.digest, other.digest], 2_000), 1);
    t.is(await readAll(store, old.digest), 'orphan');
    t.is(await store.get(other.digest), undefined);
    t.is(await store.release(DFS_OWNER, [old.digest], 3_000), 1); // decided after it: it goes
    t.is(await store.get(old.digest), undefined);
    await store.close();
  });

  test(`${name}: adopt moves a written file in; list shows every block`, async (t) => {
    const store = await open();
    const dir = tempDir('bftmr-adopt-');
    const file = path.join(dir, 'f');
    fs.writeFileSync(file, 'adopted');
    const info = await store.adopt(file, sha256('adopted'), 7, 'job_9');
    t.is(info.digest, sha256('adopted'));
    t.false(fs.existsSync(file));
    t.is(await readAll(store, info.digest), 'adopted');
    await store.put(chunks(''), DFS_OWNER);
    const listed = [];
    for await (const b of store.list()) listed.push(b.digest);
    t.deepEqual(listed.sort(), [sha256(''), sha256('adopted')].sort());
    await store.close();
  });
}
