/**
 * SHA-256 of a block's pieces, computed in a thread of the process's own when the pieces lie in
 * shared memory (the aligned stages of lib/direct_io.ts, whose reads fill them): the thread reads
 * them where they are, no copy, while the caller writes the same piece out. A 1 GB `dfs get`
 * through short-circuit reads kept its main thread busy 1.9 s, 0.73 s of it hashing, with the
 * other core mostly idle. Pieces in memory of the caller's own (what gRPC delivers) are hashed
 * on the caller's thread as before, and so are all of a hasher's pieces once one was.
 *
 * The caller must leave a piece's memory unchanged until `update` has resolved. One thread serves
 * the process, in order; it holds the process open only while it has work.
 */
import type { Hash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { newHasher, type Digest } from './digest.ts';

/** A piece for a hasher (created by its first), or its end: `done` answers its digest, `drop` forgets it. */
type Request = { id: number; hasher: number; data?: Uint8Array; done?: true; drop?: true };
type Reply = { id: number; hex?: string; error?: string };

/** The thread's code (evaluated, so it cannot import lib/digest.ts: the same SHA-256 spelled out). */
const THREAD = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const hashes = new Map();
parentPort.on('message', ({ id, hasher, data, done, drop }) => {
  try {
    if (drop) { hashes.delete(hasher); return parentPort.postMessage({ id }); }
    let h = hashes.get(hasher);
    if (!h) hashes.set(hasher, (h = createHash('sha256')));
    if (data) h.update(data);
    if (!done) return parentPort.postMessage({ id });
    hashes.delete(hasher);
    parentPort.postMessage({ id, hex: h.digest('hex') });
  } catch (e) {
    hashes.delete(hasher);
    parentPort.postMessage({ id, error: String(e && e.message || e) });
  }
});`;

let thread: Worker | undefined;
let nextId = 0;
const waiting = new Map<number, { resolve: (hex?: string) => void; reject: (e: Error) => void }>();

/** The thread, started if there is none. */
function hashingThread(): Worker {
  if (!thread) {
    const t = new Worker(THREAD, { eval: true, execArgv: [] });
    t.on('message', ({ id, hex, error }: Reply) => {
      const w = waiting.get(id);
      waiting.delete(id);
      if (waiting.size === 0) t.unref();
      if (error) w?.reject(new Error(`hashing thread: ${error}`));
      else w?.resolve(hex);
    });
    // A thread that fails or ends takes its work with it: those hashes fail, the next one starts another.
    const lost = (why: Error) => {
      if (thread === t) thread = undefined;
      for (const w of waiting.values()) w.reject(why);
      waiting.clear();
    };
    t.on('error', lost);
    t.on('exit', (code) => lost(new Error(`the hashing thread ended (exit code ${code})`)));
    thread = t;
  }
  return thread;
}

/** Sends `req` to thread `t` (it must be the one running: a hasher's state is in the thread that began it). */
function ask(t: Worker, req: Omit<Request, 'id'>): Promise<string | undefined> {
  if (t !== thread) return Promise.reject(new Error('the hashing thread ended with the hash unfinished'));
  const id = nextId++;
  return new Promise((resolve, reject) => {
    waiting.set(id, { resolve, reject });
    t.ref();
    t.postMessage({ id, ...req } satisfies Request);
  });
}

let nextHasher = 0;

export class PieceHasher {
  readonly #id = nextHasher++;
  /** The thread this hasher's pieces go to, once its first piece lay in shared memory. */
  #thread: Worker | undefined;
  /** Set once its first piece was hashed here: all its pieces are. */
  #here: Hash | undefined;

  /** Adds `piece`; its memory must stay as it is until the returned promise resolves. */
  update(piece: Uint8Array): Promise<void> {
    if (!this.#thread && (this.#here || !(piece.buffer instanceof SharedArrayBuffer))) {
      (this.#here ??= newHasher()).update(piece);
      return Promise.resolve();
    }
    this.#thread ??= hashingThread();
    // A piece of the caller's own memory after shared ones (a reader that fell back to plain reads): a copy goes.
    const data = piece.buffer instanceof SharedArrayBuffer ? piece : Uint8Array.prototype.slice.call(piece);
    return ask(this.#thread, { hasher: this.#id, data }).then(() => {});
  }

  /** The digest of the pieces so far; the hasher is done. */
  async digest(): Promise<Digest> {
    if (!this.#thread) return (this.#here ?? newHasher()).digest('hex');
    return (await ask(this.#thread, { hasher: this.#id, done: true }))!;
  }

  /** Forgets the pieces (a read that failed): the thread keeps nothing of them. */
  discard(): void {
    if (this.#thread) ask(this.#thread, { hasher: this.#id, drop: true }).catch(() => {});
  }
}
