/**
 * The dfs namespace, kept by the trusted job tracker and persisted in level: file paths, each
 * file's ordered blocks with their SHA-256 and size, and which trackers hold a replica.
 * Directories are implicit: a directory exists while some file lies under it.
 */
import { BftmrError } from '../lib/errors.ts';
import { Kv, type KvOp } from '../lib/kv.ts';
import { ancestors, joinPath, normalizePath } from '../dfs/dfs_path.ts';

export interface BlockEntry {
  digest: string;
  size: number;
  /** Tracker ids holding a verified copy. */
  replicas: string[];
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

export class Namespace {
  readonly #kv: Kv<FileEntry>;
  private constructor(kv: Kv<FileEntry>) { this.#kv = kv; }

  static async open(dir: string): Promise<Namespace> {
    return new Namespace(await Kv.open<FileEntry>(dir));
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

  /** Creates files all at once (one LevelDB batch): readers see all of them or none. */
  async create(files: FileEntry[], overwrite = false): Promise<void> {
    const ops: KvOp<FileEntry>[] = [];
    const paths = new Set<string>();
    for (const f of files) {
      const path = normalizePath(f.path);
      if (paths.has(path)) throw new BftmrError('DFS_EXISTS', `${path} given twice`);
      paths.add(path);
      await this.#checkCreatable(path, overwrite);
      ops.push({ type: 'put', key: FILE + path, value: { ...f, path } });
    }
    await this.#kv.batch(ops);
  }

  async delete(path: string, recursive: boolean): Promise<FileEntry[]> {
    const st = await this.stat(path);
    if (!st) throw new BftmrError('DFS_NOT_FOUND', `${normalizePath(path)}: no such file or directory`);
    if (st.kind === 'dir' && !recursive) {
      throw new BftmrError('DFS_NOT_EMPTY', `${st.path} is a non-empty directory (use -r to delete it)`);
    }
    const files = st.kind === 'file' ? [st.file] : await this.filesUnder(st.path);
    await this.#kv.batch(files.map((f) => ({ type: 'del', key: FILE + f.path })));
    return files;
  }

  /** Records that `trackerId` holds a verified copy of block `digest` in these files. */
  async addReplica(path: string, digest: string, trackerId: string): Promise<void> {
    const f = await this.getFile(path);
    if (!f) return;
    let changed = false;
    for (const b of f.blocks) if (b.digest === digest && !b.replicas.includes(trackerId)) { b.replicas.push(trackerId); changed = true; }
    if (changed) await this.#kv.put(FILE + f.path, f);
  }

  async *allFiles(): AsyncGenerator<FileEntry> {
    for await (const [, f] of this.#kv.scan(FILE)) yield f;
  }

  close(): Promise<void> {
    return this.#kv.close();
  }
}
