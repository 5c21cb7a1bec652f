/**
 * Big files read and written without the page cache's copy: O_DIRECT, to and from page-aligned
 * memory. Writes: dfs blocks a storage node stores, the file `dfs get` writes. Through the page
 * cache, writing a 1 GB block set cost each storage node 1.2-1.6 CPU-s (the kernel copying every
 * byte into freshly allocated page-cache pages), and a 1 GB get's client about 3 CPU-s; O_DIRECT
 * writes the same in under 0.1 CPU-s. Reads (FileReader): a node's reads of its own blocks that
 * consume each piece at once (proofs of possession, the scrubber), which now find nothing in the
 * cache either (copying the bytes out of the cache again cost more than the writes saved); other
 * reads stay buffered.
 *
 * O_DIRECT wants the memory, the file offset and the length aligned to the device's block. Node
 * offers no aligned allocation, but a WebAssembly.Memory starts on a page boundary: one, made
 * once and never grown (growing would detach its buffer), is cut into stages that writers borrow
 * for their lifetime. It is shared memory, so a thread can hash a piece where it lies
 * (lib/piece_hasher.ts). Bytes are copied into a stage and written when it is full, one write in
 * flight while the next stage fills; a reader reads the next stage while its caller uses the last.
 * No stages free, an offset that is not aligned, a file system that refuses O_DIRECT (at open or
 * at the first write or read): plain reads and writes, the same bytes.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';

/** Alignment of offsets and lengths: a page, which covers every common device block size. */
export const DIRECT_ALIGN = 4096;
const STAGE_BYTES = 1 << 20;
const STAGES_PER_WRITER = 2;
const WRITERS = 6;

/** The one part of WebAssembly used here (the project's types leave out the DOM's, which declare it). */
const { Memory } = (globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number; maximum: number; shared: true }) => { buffer: SharedArrayBuffer } } }).WebAssembly;

/** The stages of the process's aligned memory: sets of STAGES_PER_WRITER, free for a writer or reader to take. */
let freeSets: Buffer[][] | undefined;
function takeStages(): Buffer[] | undefined {
  if (!freeSets) {
    const pages = (WRITERS * STAGES_PER_WRITER * STAGE_BYTES) / 65536;
    let memory: { buffer: SharedArrayBuffer } | undefined;
    try {
      memory = new Memory({ initial: pages, maximum: pages, shared: true });
    } catch {
      // No room to reserve it (a cap on address space, say): plain reads and writes only.
    }
    freeSets = !memory ? [] : Array.from({ length: WRITERS }, (_, w) =>
      Array.from({ length: STAGES_PER_WRITER }, (_, s) => Buffer.from(memory.buffer, (w * STAGES_PER_WRITER + s) * STAGE_BYTES, STAGE_BYTES)));
  }
  return freeSets.pop();
}

export interface FileWriterOptions {
  /** Creates (or empties) the file; otherwise it must exist, and bytes outside the writer's range stay. */
  create?: boolean;
  /** false: plain writes only (as when O_DIRECT is refused). */
  direct?: boolean;
}

const isInvalid = (e: unknown) => (e as NodeJS.ErrnoException | undefined)?.code === 'EINVAL';

/** Writes bytes one after another from `start` in a file: `write` each piece in order, then `close` (or `abort`). */
export class FileWriter {
  readonly #file: string;
  readonly #start: number;
  #direct: fsp.FileHandle | undefined;
  #plain: fsp.FileHandle | undefined;
  #stages: Buffer[] | undefined;
  /** The stage filling, its bytes so far, and the write of the one before (at most one in flight). */
  #stage = 0;
  #filled = 0;
  #inFlight: Promise<void> | undefined;
  /** Bytes written or staged so far: the next byte goes to start + at. */
  #at = 0;
  #closed = false;
  /** The file system refused an aligned write: plain writes from then on. */
  #refused = false;

  private constructor(file: string, start: number) {
    this.#file = file;
    this.#start = start;
  }

  static async open(file: string, start = 0, opts: FileWriterOptions = {}): Promise<FileWriter> {
    const w = new FileWriter(file, start);
    const { O_WRONLY, O_CREAT, O_TRUNC, O_DIRECT } = fs.constants;
    const flags = O_WRONLY | (opts.create ? O_CREAT | O_TRUNC : 0);
    if (opts.direct !== false && O_DIRECT !== undefined && start % DIRECT_ALIGN === 0) {
      w.#stages = takeStages();
      if (w.#stages) {
        try {
          w.#direct = await fsp.open(file, flags | O_DIRECT, 0o644);
        } catch (e) {
          w.#release();
          if (!isInvalid(e)) throw e;
        }
      }
    }
    if (!w.#direct) w.#plain = await fsp.open(file, flags, 0o644);
    return w;
  }

  /** Whether the writer still writes around the page cache (for tests). */
  get direct(): boolean {
    return this.#direct !== undefined;
  }

  /** Appends `data` (one call at a time); its memory is not kept (it may be reused once this resolves). */
  async write(data: Uint8Array): Promise<void> {
    if (this.#closed) throw new Error('write after close');
    if (!this.#direct) {
      await this.#plainWrite(data, this.#start + this.#at);
      this.#at += data.length;
      return;
    }
    for (let off = 0; off < data.length;) {
      const stage = this.#stages![this.#stage]!;
      const n = Math.min(data.length - off, STAGE_BYTES - this.#filled);
      stage.set(data.subarray(off, off + n), this.#filled);
      this.#filled += n;
      this.#at += n;
      off += n;
      if (this.#filled === STAGE_BYTES) await this.#flush(STAGE_BYTES);
    }
  }

  /**
   * Writes what is staged and closes; returns the bytes written. `end`: the range ends the file,
   * so the last partial page may be written whole and the file cut to size; otherwise the bytes
   * after the last full page go through a plain write and nothing past the range is touched.
   */
  async close(end: boolean): Promise<number> {
    if (this.#closed) throw new Error('closed twice');
    try {
      if (this.#direct && this.#filled > 0) {
        const whole = Math.floor(this.#filled / DIRECT_ALIGN) * DIRECT_ALIGN;
        const rest = this.#filled - whole;
        const stage = this.#stages![this.#stage]!;
        if (end && rest > 0) {
          await this.#flush(whole + DIRECT_ALIGN);
        } else {
          if (whole > 0) await this.#flush(whole, rest);
          await this.#settle();
          if (rest > 0) await this.#plainWrite(stage.subarray(whole, whole + rest), this.#start + this.#at - rest);
        }
      }
      await this.#settle();
      if (end) await this.#handle().truncate(this.#start + this.#at);
      return this.#at;
    } finally {
      await this.#finish();
    }
  }

  /** Stops: waits for a write in flight (its memory must not be reused under it), closes. */
  async abort(): Promise<void> {
    if (!this.#closed) await this.#finish();
  }

  async #finish(): Promise<void> {
    this.#closed = true;
    await this.#settle().catch(() => {});
    this.#release();
    await Promise.all([this.#direct?.close(), this.#plain?.close()].map((p) => p?.catch(() => {})));
    this.#direct = this.#plain = undefined;
  }

  #release(): void {
    if (this.#stages) freeSets!.push(this.#stages);
    this.#stages = undefined;
  }

  #handle(): fsp.FileHandle {
    return (this.#direct ?? this.#plain)!;
  }

  async #plainWrite(data: Uint8Array, pos: number): Promise<void> {
    this.#plain ??= await fsp.open(this.#file, 'r+');
    for (let off = 0; off < data.length;) {
      const { bytesWritten } = await this.#plain.write(data, off, data.length - off, pos + off);
      off += bytesWritten;
    }
  }

  /** Starts the write of the filling stage's first `length` bytes (page-aligned; `keep` staged bytes follow them), after the one in flight. */
  async #flush(length: number, keep = 0): Promise<void> {
    await this.#settle();
    const stage = this.#stages![this.#stage]!;
    const pos = this.#start + this.#at - this.#filled;
    this.#inFlight = this.#directWrite(stage.subarray(0, length), pos);
    if (keep === 0) {
      this.#stage = (this.#stage + 1) % STAGES_PER_WRITER;
      this.#filled = 0;
    }
  }

  async #settle(): Promise<void> {
    const p = this.#inFlight;
    this.#inFlight = undefined;
    await p;
  }

  /** One aligned write; if the file system refuses it after all, plain writes from here on. */
  async #directWrite(data: Buffer, pos: number): Promise<void> {
    if (this.#refused) return this.#plainWrite(data, pos);
    try {
      for (let off = 0; off < data.length;) {
        const { bytesWritten } = await this.#direct!.write(data, off, data.length - off, pos + off);
        if (bytesWritten % DIRECT_ALIGN !== 0 && off + bytesWritten < data.length) throw Object.assign(new Error('short direct write'), { code: 'EINVAL' });
        off += bytesWritten;
      }
    } catch (e) {
      if (!isInvalid(e)) throw e;
      this.#refused = true;
      await this.#plainWrite(data, pos);
    }
  }
}

/** Reads pieces of a file, around the page cache when it can: see `pieces`; then `close`. */
/** `file` opened for reading with `flags`; `untrusted`: see FileReader.open. */
async function openForReading(file: string, flags: number, untrusted: boolean): Promise<fsp.FileHandle> {
  const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
  const fh = await fsp.open(file, O_RDONLY | flags | (untrusted ? O_NOFOLLOW | O_NONBLOCK : 0));
  if (untrusted && !(await fh.stat().catch(() => undefined))?.isFile()) {
    await fh.close();
    throw Object.assign(new Error(`${file} is not a regular file`), { code: 'ENOTREG' });
  }
  return fh;
}

export class FileReader {
  #fh: fsp.FileHandle;
  #stages: Buffer[] | undefined;
  #plain: fsp.FileHandle | undefined;
  /** The last read ahead started. */
  #pending: Promise<number> | undefined;
  readonly #file: string;
  /** Opened as a path someone else named: so is a reopen for plain reads. */
  readonly #untrusted: boolean;

  private constructor(file: string, fh: fsp.FileHandle, stages: Buffer[] | undefined, untrusted: boolean) {
    this.#file = file;
    this.#fh = fh;
    this.#stages = stages;
    this.#untrusted = untrusted;
  }

  /**
   * Opens `file` (failing as fsp.open does: ENOENT...); `direct: false` for plain reads only.
   * `untrusted`: a path someone else named, opened only if it is a regular file itself (not a
   * symbolic link, and without waiting on a FIFO), else ENOTREG.
   */
  static async open(file: string, opts: { direct?: boolean; untrusted?: boolean } = {}): Promise<FileReader> {
    const untrusted = !!opts.untrusted;
    const stages = opts.direct !== false && fs.constants.O_DIRECT !== undefined ? takeStages() : undefined;
    if (stages) {
      try {
        return new FileReader(file, await openForReading(file, fs.constants.O_DIRECT, untrusted), stages, untrusted);
      } catch (e) {
        freeSets!.push(stages);
        if (!isInvalid(e)) throw e;
      }
    }
    return new FileReader(file, await openForReading(file, 0, untrusted), undefined, untrusted);
  }

  /** Whether the reader reads around the page cache (for tests). */
  get direct(): boolean {
    return this.#stages !== undefined;
  }

  /**
   * Bytes [offset, end) of the file (fewer if it is shorter). Read around the page cache, in
   * pieces of at most a stage, each the reader's own memory and valid only until the next is
   * asked for; otherwise in pieces of at most `pieceBytes`, each read into `memory(size)`.
   */
  async *pieces(offset: number, end: number, memory: (size: number) => Uint8Array, pieceBytes = STAGE_BYTES): AsyncGenerator<Uint8Array> {
    let at = offset;
    if (this.#stages && offset % DIRECT_ALIGN === 0) {
      const stages = this.#stages;
      const read = async (stage: Buffer, pos: number): Promise<number> => {
        const want = Math.min(STAGE_BYTES, Math.ceil((end - pos) / DIRECT_ALIGN) * DIRECT_ALIGN);
        try {
          return (await this.#fh.read(stage, 0, want, pos)).bytesRead;
        } catch (e) {
          if (!isInvalid(e)) throw e;
          return -1; // refused after all: plain reads from here
        }
      };
      let k = 0;
      let next: Promise<number> | undefined = at < end ? read(stages[0]!, at) : undefined;
      let refused = false;
      while (next) {
        const n = await next;
        next = undefined;
        if (n < 0) { refused = true; break; }
        const got = Math.min(n, end - at);
        if (got <= 0) return;
        const stage = stages[k]!;
        // Read on into the other stage meanwhile, unless this was the end (a read that is not
        // whole pages ends the file; one of whole pages may be short, and the next read says).
        if (at + got < end && n % DIRECT_ALIGN === 0) {
          k = (k + 1) % STAGES_PER_WRITER;
          next = this.#pending = read(stages[k]!, at + got);
          // Its failure is thrown when the caller asks for the next piece: a caller still busy
          // with this one (writing it somewhere) must not see the process die of it meanwhile.
          next.catch(() => {});
        }
        yield stage.subarray(0, got);
        at += got;
      }
      if (!refused) return;
    }
    // The O_DIRECT handle reads only aligned pieces into aligned memory.
    const fh = this.#stages ? (this.#plain ??= await openForReading(this.#file, 0, this.#untrusted)) : this.#fh;
    while (at < end) {
      const want = Math.min(pieceBytes, end - at);
      const buf = memory(want);
      const { bytesRead } = await fh.read(buf, 0, want, at);
      if (bytesRead === 0) return;
      yield buf.subarray(0, bytesRead);
      at += bytesRead;
    }
  }

  /** Closes; a read ahead still running (a caller that stopped early) ends first, as its memory goes back. */
  async close(): Promise<void> {
    await this.#pending?.catch(() => {});
    if (this.#stages) freeSets!.push(this.#stages);
    this.#stages = undefined;
    await Promise.all([this.#fh.close(), this.#plain?.close()].map((p) => p?.catch(() => {})));
  }
}
