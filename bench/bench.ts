/**
 * `npm run bench`: bftmr against the contenders, in one run, on real text (Debian packages).
 *   word_count on >= 200 MB: a single-threaded plain Node script, bftmr f=0 (plain Hadoop: one
 *   attempt per task) and f=1 (every task twice, voted), on one local cluster; prints MB/s and ratios
 *   and the peak RSS of every daemon.
 * Options: --mb N (corpus size, default 240), --trackers N (3), --slots N, --split-mb M (64),
 *   --reduces R (2).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import type * as M from '../lib/messages.ts';
import { MB } from '../lib/options.ts';
import { DfsClient } from '../dfs/client.ts';
import { bundleJob } from '../cli/bundle.ts';
import { startCluster, stopCluster, type ClusterState } from '../cli/cluster_launcher.ts';
import { storeBundle, submit, waitForJob } from '../cli/job_client.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const { values: opt } = parseArgs({
  options: {
    mb: { type: 'string', default: '240' },
    trackers: { type: 'string', default: '3' },
    slots: { type: 'string' },
    'split-mb': { type: 'string', default: '64' },
    reduces: { type: 'string', default: '2' },
  },
});

function corpus(minMb: number): string {
  execFileSync(path.join(ROOT, 'scripts/fetch-corpus.sh'), ['--bench'], { stdio: 'ignore' });
  const dir = path.join(ROOT, '.cache/corpus');
  const file = path.join(dir, `bench-${minMb}mb.txt`);
  if (fs.existsSync(file)) return file;
  const parts = ['gcide.txt', 'wordnet.txt', 'jargon.txt'].map((f) => fs.readFileSync(path.join(dir, f)));
  const fd = fs.openSync(file + '.tmp', 'w');
  let size = 0;
  while (size < minMb * MB) for (const p of parts) { fs.writeSync(fd, p); size += p.length; }
  fs.closeSync(fd);
  fs.renameSync(file + '.tmp', file);
  return file;
}

function peakRssMb(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch { return NaN; }
}

const fmt = (n: number, d = 1) => n.toFixed(d);
const row = (name: string, secs: number, mb: number, extra = '') =>
  console.log(`${name.padEnd(44)} ${fmt(secs).padStart(7)} s ${fmt(mb / secs).padStart(7)} MB/s  ${extra}`);

async function main(): Promise<void> {
  const file = corpus(Number(opt.mb));
  const sizeMb = fs.statSync(file).size / MB;
  console.log(`corpus: ${fmt(sizeMb)} MB of real text (Debian dict-gcide, wordnet-base, jargon-text), ${os.availableParallelism()} cores`);

  let t = performance.now();
  const base = spawnSync(process.execPath, [path.join(ROOT, 'bench/wc_baseline.mjs'), file], { encoding: 'utf8' });
  if (base.status !== 0) throw new Error(base.stderr);
  const baseSecs = (performance.now() - t) / 1000;
  row('baseline: single-threaded plain Node script', baseSecs, sizeMb, `(${base.stdout.trim().split(' ')[0]} distinct words)`);

  const home = await fsp.mkdtemp(path.join(os.tmpdir(), 'bftmr-bench-'));
  let state: ClusterState | undefined;
  const dfs = { client: undefined as DfsClient | undefined };
  try {
    const trackers = Number(opt.trackers);
    state = await startCluster(home, { trackers, slots: opt.slots ? Number(opt.slots) : undefined, detached: false });
    const client = (dfs.client = new DfsClient(state.jobTracker.address));
    const splitBytes = Math.round(Number(opt['split-mb']) * MB);
    t = performance.now();
    await client.put(file, '/bench/in.txt', { replication: 3, blockBytes: splitBytes });
    row(`dfs put (replication 3, ${opt['split-mb']} MB blocks)`, (performance.now() - t) / 1000, sizeMb);

    const bundle = await bundleJob(path.join(ROOT, 'jobs/word_count.ts'));
    const bundlePath = await storeBundle(client, bundle);
    const results: Record<string, { secs: number; status: M.JobStatus; digests: string[] }> = {};
    for (const f of [0, 1]) {
      t = performance.now();
      const jobId = await submit(client, bundle, bundlePath, {
        inputs: ['/bench/in.txt'], output: `/bench/f${f}`, f, reduces: Number(opt.reduces), splitBytes, conf: {}, name: `wc-f${f}`,
      });
      const status = await waitForJob(client, jobId, false);
      const secs = (performance.now() - t) / 1000;
      if (status.state !== 'SUCCEEDED') throw new Error(`f=${f}: ${status.error}`);
      const parts = await client.list(`/bench/f${f}`);
      results[f] = { secs, status, digests: parts.map((p) => p.blocks[0]!.digest) };
    }
    const [f0, f1] = [results[0]!, results[1]!];
    if (f0.digests.join() !== f1.digests.join()) throw new Error('f=0 and f=1 outputs differ');
    const slots = opt.slots ?? 'default';
    row(`bftmr word_count f=0 (${trackers} trackers, ${slots} slots)`, f0.secs, sizeMb,
      `${fmt(baseSecs / f0.secs, 2)}x the single-threaded script (target >= 1.5x); ${f0.status.maps_total} maps, ${f0.status.reduces_total} reduces`);
    row('bftmr word_count f=1 (every task twice, voted)', f1.secs, sizeMb,
      `${fmt(f1.secs / f0.secs, 2)}x the f=0 time (target <= 2.1x); ${f1.status.map_attempts}+${f1.status.reduce_attempts} attempts, same output digests as f=0`);
    const jt = peakRssMb(state.jobTracker.pid);
    const tts = state.trackers.map((x) => peakRssMb(x.pid));
    console.log(`peak RSS: job tracker ${fmt(jt, 0)} MB; task trackers ${tts.map((x) => fmt(x, 0)).join(', ')} MB (each includes its worker threads)`);
  } finally {
    dfs.client?.close();
    if (state) await stopCluster(state);
    await fsp.rm(home, { recursive: true, force: true });
  }
}

await main();
