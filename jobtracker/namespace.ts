/**
 * The dfs namespace, kept by the trusted job tracker and persisted in level: file paths, each
 * file's ordered blocks with their SHA-256 and size, and which trackers hold a replica.
 * Directories are implicit: a directory exists while some file lies under it. A block (a digest)
 * may belong to several files; an index in memory says which, so that replica changes reach all
 * of them and a block no file refers to any more can be collected. Changes are serialised.
 */
import { BftmrError } from '../lib/errors.ts';
import { Kv, type KvOp } from '../lib/kv.ts';
import { ancestors, baseName, joinPath, normalizePath } from '../dfs/dfs_path.ts';
import type { BlockRef, Location } from '../lib/messages.ts';

export interface BlockEntry {
  digest: string;
  size: number;
  /** Tracker ids holding a verified copy. */
  replicas: string[];
  /** The SHA-256 of its first `size` bytes, when the writer gave it (see BLOCK_HEAD_BYTES). */
  head?: { digest: string; size: number };
  /** The writer saw no line end in it (see BlockRef.no_newline). */
  noNewline?: true;
}

/** A block as a message names it: where its copies are, and its head when the writer gave one. */
export function blockRef(b: BlockEntry, replicas: Location[]): BlockRef {
  return {
    digest: b.digest, size: b.size, replicas,
    ...(b.head ? { head_digest: b.head.digest, head_size: b.head.size } : {}), ...(b.noNewline ? { no_newline: true } : {}),
  };
}

export interface FileEntry {
  path: string;
  size: number;
  blocks: BlockEntry[];
  replication: number;
  createdMs: number;
}

export type Entry = { kind: 'file'; file: FileEntry } | { kind: 'dir'; path: string };

const FILE = 'f:';

/** A block as all the files referring to it see it. */
export interface BlockView {
  digest: string;
  size: number;
  /** The most copies any of its files wants. */
  wanted: number;
  /** Every tracker some file lists as holding it. */
  replicas: string[];
}

export class Namespace {
  readonly #kv: Kv<FileEntry>;
  /** digest -> path -> that file's replication. */
  readonly #refs = new Map<string, Map<string, number>>();
  #serial: Promise<unknown> = Promise.resolve();
  private constructor(kv: Kv<FileEntry>) { this.#kv = kv; }

  static async open(dir: string): Promise<Namespace> {
    const ns = new Namespace(await Kv.open<FileEntry>(dir));
    for await (const f of ns.allFiles()) ns.#index(f, true);
    return ns;
  }

  #index(f: FileEntry, add: boolean): void {
    for (const b of f.blocks) {
      let paths = this.#refs.get(b.digest);
      if (add) {
        if (!paths) this.#refs.set(b.digest, (paths = new Map()));
        paths.set(f.path, f.replication);
      } else if (paths) {
        paths.delete(f.path);
        if (paths.size === 0) this.#refs.delete(b.digest);
      }
    }
  }

  /** Runs changes one at a time, so a read-modify-write never undoes another. */
  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#serial.then(fn, fn);
    this.#serial = next.catch(() => {});
    return next;
  }

  /** Whether some file refers to block `digest`. */
  isReferenced(digest: string): boolean {
    return this.#refs.has(digest);
  }

  /** The most copies any file referring to `digest` wants (0: none refers to it). */
  wanted(digest: string): number {
    return Math.max(0, ...(this.#refs.get(digest)?.values() ?? []));
  }

  /** Every block some file refers to, with the union of its listed replicas (loading the core at start). */
  async blocks(): Promise<BlockView[]> {
    const views = new Map<string, BlockView>();
    for await (const f of this.allFiles()) {
      for (const b of f.blocks) {
        let v = views.get(b.digest);
        if (!v) views.set(b.digest, (v = { digest: b.digest, size: b.size, wanted: 0, replicas: [] }));
        v.wanted = Math.max(v.wanted, f.replication);
        for (const r of b.replicas) if (!v.replicas.includes(r)) v.replicas.push(r);
      }
    }
    return [...views.values()];
  }

  async getFile(path: string): Promise<FileEntry | undefined> {
    return this.#kv.get(FILE + normalizePath(path));
  }

  async #hasChildren(dir: string): Promise<boolean> {
    for await (const _ of this.#kv.scan(FILE + (dir === '/' ? '/' : dir + '/'))) return true;
    return false;
  }

  async stat(path: string): Promise<Entry | undefined> {
    const p = normalizePath(path);
    const file = await this.getFile(p);
    if (file) return { kind: 'file', file };
    if (p === '/' || (await this.#hasChildren(p))) return { kind: 'dir', path: p };
    return undefined;
  }

  /** The entries directly in `dir` (or every file below it when recursive), in path order. */
  async list(dir: string, recursive = false): Promise<Entry[]> {
    const p = normalizePath(dir);
    const st = await this.stat(p);
    if (!st) throw new BftmrError('DFS_NOT_FOUND', `${p}: no such file or directory`);
    if (st.kind === 'file') return [st];
    const prefix = p === '/' ? '/' : p + '/';
    const out: Entry[] = [];
    const seenDirs = new Set<string>();
    for await (const [, file] of this.#kv.scan(FILE + prefix)) {
      const rest = file.path.slice(prefix.length);
      const slash = rest.indexOf('/');
      if (recursive || slash < 0) out.push({ kind: 'file', file });
      else {
        const sub = joinPath(p, rest.slice(0, slash));
        if (!seenDirs.has(sub)) { seenDirs.add(sub); out.push({ kind: 'dir', path: sub }); }
      }
    }
    return out;
  }

  /** Every file at or below `path`, in path order (job inputs). */
  async filesUnder(path: string): Promise<FileEntry[]> {
    return (await this.list(path, true)).flatMap((e) => (e.kind === 'file' ? [e.file] : []));
  }

  async #checkCreatable(path: string, overwrite: boolean): Promise<void> {
    if (path === '/') throw new BftmrError('DFS_BAD_PATH', 'cannot create a file at /');
    const st = await this.stat(path);
    if (st?.kind === 'dir') throw new BftmrError('DFS_EXISTS', `${path} exists and is a directory`);
    if (st && !overwrite) throw new BftmrError('DFS_EXISTS', `${path} already exists`);
    for (const a of ancestors(path)) {
      if (await this.getFile(a)) throw new BftmrError('DFS_EXISTS', `${a} is a file, so ${path} cannot be created`);
    }
  }

  /**
   * Creates files all at once (one LevelDB batch): readers see all of them or none. Returns the
   * files they replaced (with `overwrite`).
   */
  create(files: FileEntry[], overwrite = false): Promise<FileEntry[]> {
    return this.#exclusive(async () => {
      const ops: KvOp<FileEntry>[] = [];
      const paths = new Set<string>();
      const replaced: FileEntry[] = [];
      const created: FileEntry[] = [];
      for (const f of files) {
        const path = normalizePath(f.path);
        if (paths.has(path)) throw new BftmrError('DFS_EXISTS', `${path} given twice`);
        paths.add(path);
        await this.#checkCreatable(path, overwrite);
        const old = await this.getFile(path);
        if (old) replaced.push(old);
        created.push({ ...f, path });
        ops.push({ type: 'put', key: FILE + path, value: { ...f, path } });
      }
      await this.#kv.batch(ops);
      for (const old of replaced) this.#index(old, false);
      for (const f of created) this.#index(f, true);
      return replaced;
    });
  }

  /** Deletes a file, or a directory with `recursive`; returns the files deleted. */
  delete(path: string, recursive: boolean): Promise<FileEntry[]> {
    return this.#exclusive(async () => {
      const st = await this.stat(path);
      if (!st) throw new BftmrError('DFS_NOT_FOUND', `${normalizePath(path)}: no such file or directory`);
      if (st.kind === 'dir' && !recursive) {
        throw new BftmrError('DFS_NOT_EMPTY', `${st.path} is a non-empty directory (use -r to delete it)`);
      }
      const files = st.kind === 'file' ? [st.file] : await this.filesUnder(st.path);
      await this.#kv.batch(files.map((f) => ({ type: 'del', key: FILE + f.path })));
      for (const f of files) this.#index(f, false);
      return files;
    });
  }

  /** Sets the replication of a file, or of every file below a directory; returns the files changed. */
  setReplication(path: string, replication: number): Promise<FileEntry[]> {
    return this.#exclusive(async () => {
      const files = (await this.filesUnder(path)).filter((f) => f.replication !== replication).map((f) => ({ ...f, replication }));
      await this.#kv.batch(files.map((f) => ({ type: 'put', key: FILE + f.path, value: f })));
      for (const f of files) this.#index(f, true);
      return files;
    });
  }

  /**
   * Moves a file, or a directory and everything below it, to `dst` (into it, when `dst` is a
   * directory), as HDFS's `-mv`: nothing is replaced, one batch, blocks untouched. Returns the
   * new path and the files moved.
   */
  rename(src: string, dst: string): Promise<{ path: string; files: number }> {
    return this.#exclusive(async () => {
      const from = normalizePath(src);
      if (from === '/') throw new BftmrError('DFS_BAD_PATH', 'cannot move /');
      const st = await this.stat(from);
      if (!st) throw new BftmrError('DFS_NOT_FOUND', `${from}: no such file or directory`);
      let to = normalizePath(dst);
      if ((await this.stat(to))?.kind === 'dir') to = joinPath(to, baseName(from));
      if (to === from) throw new BftmrError('DFS_EXISTS', `${from} is already there`);
      if (st.kind === 'dir' && to.startsWith(from + '/')) throw new BftmrError('DFS_BAD_PATH', `cannot move ${from} into itself (${to})`);
      await this.#checkCreatable(to, false);
      const files = st.kind === 'file' ? [st.file] : await this.filesUnder(from);
      const moved = files.map((f) => ({ ...f, path: to + f.path.slice(from.length) }));
      await this.#kv.batch([
        ...files.map((f): KvOp<FileEntry> => ({ type: 'del', key: FILE + f.path })),
        ...moved.map((f): KvOp<FileEntry> => ({ type: 'put', key: FILE + f.path, value: f })),
      ]);
      for (const f of files) this.#index(f, false);
      for (const f of moved) this.#index(f, true);
      return { path: to, files: files.length };
    });
  }

  /**
   * Sets the replica list of each block in every file referring to it, writing each such file
   * once (one batch). Blocks no file refers to any more are skipped.
   */
  setReplicas(changes: readonly { digest: string; replicas: readonly string[] }[]): Promise<void> {
    return this.#exclusive(async () => {
      const byDigest = new Map(changes.map((c) => [c.digest, c.replicas]));
      const paths = new Set(changes.flatMap((c) => [...(this.#refs.get(c.digest)?.keys() ?? [])]));
      const ops: KvOp<FileEntry>[] = [];
      for (const path of paths) {
        const f = await this.getFile(path);
        if (!f) continue;
        let changed = false;
        for (const b of f.blocks) {
          const replicas = byDigest.get(b.digest);
          if (!replicas || (b.replicas.length === replicas.length && b.replicas.every((r, i) => r === replicas[i]))) continue;
          b.replicas = [...replicas];
          changed = true;
        }
        if (changed) ops.push({ type: 'put', key: FILE + f.path, value: f });
      }
      if (ops.length) await this.#kv.batch(ops);
    });
  }

  async *allFiles(): AsyncGenerator<FileEntry> {
    for await (const [, f] of this.#kv.scan(FILE)) yield f;
  }

  close(): Promise<void> {
    return this.#kv.close();
  }
}
