/**
 * Runs the attempts a tracker is given: gathers their inputs (job code, split blocks, map
 * outputs from other trackers, each verified against its SHA-256), runs them on the pool, stores
 * their outputs as blocks (replication 1, owned by the job) and builds the report.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { BftmrError, messageOf } from '../lib/errors.ts';
import { EMPTY_DIGEST, sha256 } from '../lib/digest.ts';
import type { AttemptReport, BlockRef, Conf, JobCode, LaunchMap, LaunchReduce } from '../lib/messages.ts';
import type { FileBlockStore } from '../dfs/file_block_store.ts';
import { fetchBlock, readOrder, type FetchFailure } from '../dfs/block_transfer.ts';
import { fetchInto } from './block_service.ts';
import type { Peers } from '../dfs/peers.ts';
import type { TaskPool } from './pool.ts';
import type { MapResult } from './map_runner.ts';
import type { ReduceResult } from './reduce_runner.ts';
import type { LocalBlock } from './line_reader.ts';
import { corruptionKey, type Fault } from './faults.ts';
import { writeRecord } from './map_runner.ts';
import { OutputFile } from './output_file.ts';
import { splitReads } from '../lib/split_reads.ts';
import { attemptLogPath } from './task_log.ts';
import type { LocalCacheFile } from './cache_files.ts';

export class AttemptRunner {
  readonly #codeFetches = new Map<string, Promise<string>>();

  constructor(
    private readonly dir: string,
    private readonly store: FileBlockStore,
    private readonly peers: Peers,
    private readonly pool: TaskPool,
    private readonly fault: Fault,
    private readonly trackerId: () => string,
    /** Called with each node that served a block wrong (or denied holding it) while a task read it. */
    private readonly badRead: (digest: string, trackerId: string) => void = () => {},
  ) {}

  /** The code (bundle digest) of each job that has run here and is not over. */
  readonly #codeOf = new Map<string, string>();

  /** The job module, verified, as a local .mjs file the workers import. */
  #code(jobId: string, bundle: BlockRef): Promise<string> {
    const file = this.#codeFile(bundle.digest);
    this.#codeOf.set(jobId, bundle.digest);
    let p = this.#codeFetches.get(bundle.digest);
    if (!p) {
      p = (async () => {
        try { await fs.access(file); return file; } catch { /* fetch it */ }
        const local = await this.#block(jobId, bundle);
        await fs.mkdir(path.dirname(file), { recursive: true });
        await fs.copyFile(local.path, file + '.tmp');
        await fs.rename(file + '.tmp', file);
        return file;
      })();
      this.#codeFetches.set(bundle.digest, p);
      p.catch(() => this.#codeFetches.delete(bundle.digest));
    }
    return p;
  }

  #codeFile(digest: string): string {
    return path.join(this.dir, 'code', `${digest}.mjs`);
  }

  /** The job is over here: its module file goes, unless another job here runs the same code. */
  async dropCode(jobId: string): Promise<void> {
    const digest = this.#codeOf.get(jobId);
    this.#codeOf.delete(jobId);
    if (!digest || [...this.#codeOf.values()].includes(digest)) return;
    this.#codeFetches.delete(digest);
    await fs.rm(this.#codeFile(digest), { force: true });
  }

  /** At the tracker's start no job runs here: module files an earlier run left go. */
  async clearCode(): Promise<void> {
    await fs.rm(path.join(this.dir, 'code'), { recursive: true, force: true });
  }

  /** The job's cache files as local files of their blocks, each ours already or fetched (verified). */
  async #cacheFiles(jobId: string, code: JobCode, signal: AbortSignal): Promise<LocalCacheFile[]> {
    const out: LocalCacheFile[] = [];
    for (const c of code.cache ?? []) {
      const blocks: string[] = [];
      for (const b of c.blocks) blocks.push((await this.#block(jobId, b, signal)).path);
      out.push({ path: c.path, blocks });
    }
    return out;
  }

  /** A local file with the block's bytes: ours already, or fetched (verified) from a replica. */
  async #block(jobId: string, ref: BlockRef, signal?: AbortSignal): Promise<{ path: string; local: boolean }> {
    const local = this.store.localPath(ref.digest);
    if (local) return { path: local, local: true };
    let failures: FetchFailure[] = [];
    try {
      failures = (await fetchInto(this.store, this.peers, { ...ref, replicas: readOrder(ref.replicas) }, jobId, signal)).failures;
      return { path: this.store.localPath(ref.digest)!, local: false };
    } catch (e) {
      failures = (e as { failures?: FetchFailure[] }).failures ?? [];
      throw e;
    } finally {
      for (const f of failures) if (f.badBytes || f.missing) this.badRead(ref.digest, f.source.tracker_id);
    }
  }

  /**
   * The head of block `ref` (its first head_size bytes, verified against its head digest) as a
   * temporary file, when the head holds a line end: all a map whose last line runs into this
   * block reads of it. Undefined when the block has no head digest, no replica served the head
   * right, or the head has no line end: the caller fetches the whole block, whose own digest
   * then judges the replicas (a head the writer got wrong must not blame one). Every byte received
   * is added to `tally.fetched`, used or not.
   */
  async #head(ref: BlockRef, signal: AbortSignal, tally: { fetched: number }): Promise<{ path: string; size: number } | undefined> {
    const size = ref.head_size ?? 0;
    if (!ref.head_digest || size <= 0 || size > ref.size) return undefined;
    let bytes: Buffer;
    try {
      ({ result: bytes } = await fetchBlock(this.peers, ref, async (chunks) => {
        const parts: Uint8Array[] = [];
        let n = 0;
        for await (const c of chunks) {
          n += c.length;
          tally.fetched += c.length;
          if (n > size) break;
          parts.push(c);
        }
        const got = Buffer.concat(parts);
        if (n !== size || sha256(got) !== ref.head_digest) throw new BftmrError('DFS_DIGEST_MISMATCH', 'the head does not match its digest');
        return got;
      }, signal, { offset: 0, length: size }));
    } catch (e) {
      if (signal.aborted) throw e;
      return undefined;
    }
    if (size < ref.size && !bytes.includes(10)) return undefined;
    const file = this.store.tempPath();
    try {
      await fs.writeFile(file, bytes);
    } catch (e) {
      await fs.rm(file, { force: true });
      throw e;
    }
    return { path: file, size };
  }

  /** What every attempt of the job's tasks shares; `task` names the task (not the attempt). */
  #common(jobId: string, attemptId: string, task: string, code: JobCode, bundlePath: string) {
    const logPath = attemptLogPath(this.dir, jobId, attemptId);
    if (!logPath) throw new BftmrError('JOB_BAD_ARGUMENT', `not a job and attempt id: ${jobId} ${attemptId}`);
    return {
      jobId,
      logPath,
      taskKey: `${jobId}/${task}`,
      jobStartMs: code.start_ms,
      bundlePath,
      bundleDigest: code.bundle.digest,
      conf: Object.fromEntries(code.conf.map((c: Conf) => [c.key, c.value])),
      numReduces: code.num_reduces,
    };
  }

  async runMap(m: LaunchMap, signal: AbortSignal): Promise<AttemptReport> {
    const started = performance.now();
    const end = m.offset + m.length;
    const needed = splitReads(m.blocks, m.offset, m.length);
    const code = await this.#code(m.job_id, m.code.bundle);
    const cache = await this.#cacheFiles(m.job_id, m.code, signal);
    const locals: LocalBlock[] = [];
    const heads: string[] = [];
    let splitLocal = true;
    const tally = { fetched: 0 };
    // One file per reduce; a map-only job's map (no reduces) writes one, part of the job's output.
    const outPaths = Array.from({ length: Math.max(1, m.num_reduces) }, () => this.store.tempPath());
    let result: MapResult;
    try {
      for (const b of needed) {
        // A block past the split's end is read only to the end of the split's last line.
        const after = b.offset >= end;
        const head = after && !this.store.localPath(b.block.digest) ? await this.#head(b.block, signal, tally) : undefined;
        if (head) {
          heads.push(head.path);
          locals.push({ path: head.path, fileOffset: b.offset, size: head.size });
          continue;
        }
        const got = await this.#block(m.job_id, b.block, signal);
        if (!after) splitLocal &&= got.local;
        if (!got.local) tally.fetched += b.block.size;
        locals.push({ path: got.path, fileOffset: b.offset, size: b.block.size });
      }
      result = (await this.pool.run({
        ...this.#common(m.job_id, m.attempt_id, `m/${m.map_index}`, m.code, code),
        cache,
        kind: 'map',
        input: { file: m.path, blocks: locals, start: m.offset, end, fileSize: m.file_size },
        outPaths,
      }, signal)) as MapResult;
    } finally {
      await Promise.all(heads.map((h) => fs.rm(h, { force: true })));
    }

    const key = this.fault.kind === 'corrupt-map' || this.fault.kind === 'collude' ? corruptionKey(this.fault, this.trackerId()) : undefined;
    if (key) result.partitions[0] = await appendRecord(outPaths[0]!, key);
    const digests: string[] = [];
    const sizes: number[] = [];
    for (let p = 0; p < outPaths.length; p++) {
      const part = result.partitions[p]!;
      await this.store.adopt(outPaths[p]!, part.digest, part.size, m.job_id);
      digests.push(part.digest);
      sizes.push(part.size);
    }
    return { ...this.#report(m.attempt_id, digests, sizes, result.counters, started, splitLocal), fetched_bytes: tally.fetched };
  }

  async runReduce(r: LaunchReduce, signal: AbortSignal): Promise<AttemptReport> {
    const started = performance.now();
    const code = await this.#code(r.job_id, r.code.bundle);
    const cache = await this.#cacheFiles(r.job_id, r.code, signal);
    const inputs: (string | undefined)[] = [];
    let fetched = 0;
    for (const s of r.sources) {
      if (s.digest === EMPTY_DIGEST) { inputs[s.map_index] = undefined; continue; }
      try {
        const got = await this.#block(r.job_id, { digest: s.digest, size: s.size, replicas: [s.location] }, signal);
        inputs[s.map_index] = got.path;
        if (!got.local) fetched += s.size;
      } catch (e) {
        if (signal.aborted) throw e;
        // The source did not deliver verified bytes: not our fault; say which source it was.
        return {
          ...this.#report(r.attempt_id, [], [], {}, started, false),
          ok: false,
          error: `map output ${s.digest.slice(0, 12)} of map ${s.map_index} from ${s.location.tracker_id}: ${messageOf(e)}`,
          bad_source_tracker: s.location.tracker_id,
          bad_source_digest: s.digest,
        };
      }
    }
    const outPath = this.store.tempPath();
    let result = (await this.pool.run({
      ...this.#common(r.job_id, r.attempt_id, `r/${r.partition}`, r.code, code),
      cache,
      kind: 'reduce',
      inputs,
      partition: r.partition,
      outPath,
    }, signal)) as ReduceResult;
    if (this.fault.kind === 'corrupt-reduce') {
      await fs.appendFile(outPath, `${corruptionKey(this.fault, this.trackerId())}\t1\n`);
      const bytes = await fs.readFile(outPath);
      result = { ...result, digest: sha256(bytes), size: bytes.length };
    }
    await this.store.adopt(outPath, result.digest, result.size, r.job_id);
    return { ...this.#report(r.attempt_id, [result.digest], [result.size], result.counters, started, false), fetched_bytes: fetched };
  }

  #report(attemptId: string, digests: string[], sizes: number[], counters: Record<string, number>, started: number, localRead: boolean): AttemptReport {
    if (this.fault.kind === 'lie-digest') digests = digests.map((d) => sha256(d + this.trackerId()));
    return {
      attempt_id: attemptId,
      ok: true,
      error: '',
      digests,
      sizes,
      counters: Object.entries(counters).map(([name, value]) => ({ name, value })),
      duration_ms: Math.round(performance.now() - started),
      bad_source_tracker: '',
      bad_source_digest: '',
      local_read: localRead,
    };
  }

  /** Waits out a slow tracker's delay (a fault mode), unless the attempt is killed first. */
  async delay(signal: AbortSignal): Promise<void> {
    if (this.fault.kind === 'slow') await sleep(this.fault.ms, undefined, { signal });
  }

  failure(attemptId: string, e: unknown): AttemptReport {
    return { ...this.#report(attemptId, [], [], {}, performance.now(), false), ok: false, error: messageOf(e) };
  }
}

/** Appends one record to a partition file and returns its new digest and size. */
async function appendRecord(file: string, key: string): Promise<{ digest: string; size: number }> {
  const tmp = file + '.c';
  const out = new OutputFile(tmp);
  out.writeBytes(await fs.readFile(file));
  writeRecord(out, Buffer.from(key), '1');
  const res = out.close();
  await fs.rename(tmp, file);
  return res;
}

