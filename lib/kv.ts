/**
 * The level adapter: the only file that imports classic-level. A small sorted key-value store
 * with JSON values, batches and prefix scans; enough for the namespace and block metadata.
 */
import { ClassicLevel } from 'classic-level';
import { BftmrError } from './errors.ts';

export type KvOp<V> = { type: 'put'; key: string; value: V } | { type: 'del'; key: string };

export class Kv<V> {
  readonly #db: ClassicLevel<string, V>;

  private constructor(db: ClassicLevel<string, V>) {
    this.#db = db;
  }

  static async open<V>(dir: string): Promise<Kv<V>> {
    const db = new ClassicLevel<string, V>(dir, { valueEncoding: 'json' });
    try {
      await db.open();
    } catch (e) {
      // LevelDB's LOCK: "Database failed to open" says nothing of why.
      if ((e as { cause?: { code?: string } }).cause?.code === 'LEVEL_LOCKED') {
        throw new BftmrError('LOCAL_IO', `${dir} is in use by another process (a daemon of this cluster still running?)`, { cause: e });
      }
      throw e;
    }
    return new Kv(db);
  }

  async get(key: string): Promise<V | undefined> {
    return (await this.#db.get(key)) ?? undefined;
  }

  put(key: string, value: V): Promise<void> {
    return this.#db.put(key, value);
  }

  del(key: string): Promise<void> {
    return this.#db.del(key);
  }

  /** All operations apply, or none (LevelDB write batch). */
  batch(ops: KvOp<V>[]): Promise<void> {
    return this.#db.batch(ops);
  }

  /** Entries whose key starts with `prefix`, in key order. */
  async *scan(prefix: string): AsyncGenerator<[string, V]> {
    for await (const entry of this.#db.iterator({ gte: prefix, lt: prefix + '\uffff' })) yield entry;
  }

  close(): Promise<void> {
    return this.#db.close();
  }
}
