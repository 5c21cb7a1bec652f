/**
 * `npm run bench`: bftmr against the contenders, in one run, on real text (Debian packages).
 *   word_count on >= 200 MB (1 GB by default): a single-threaded plain Node script, bftmr f=0
 *   (plain Hadoop: one attempt per task) and f=1 (every task twice, voted), on one local cluster;
 *   prints MB/s and ratios and the peak RSS of every daemon (the 1 GB input that no process may
 *   hold). 1 GB is 17 maps of 64 MB, nine waves at f=0 on 2 cores. With 240 MB (4 maps, two waves), the
 *   ratios measured the waves' granularity more than bftmr: the last wave is part empty at f=0,
 *   and a liar's one wasted attempt costs a whole round of maps, 5 where 4 do without it
 *   (test/jobtracker_core.test.ts), against a corrupt-map target of 1.15x.
 *   Then f=1 again on clusters where one tracker is faulty (corrupt-map, slow), against the
 *   fault-free f=1 time.
 *   Then the dfs: `bftmr dfs put` and `dfs get` of a --dfs-mb file (1 GB) on a local cluster
 *   (replication 3) beside `cp` of the same file, as MB/s and ratios, with every process's peak RSS
 *   and the CPU seconds each process spent on each step.
 * Options: --mb N (word count's corpus size, default 1024), --trackers N (3), --slots N, --split-mb M (64),
 *   --reduces R (2), --slow-ms MS (5000), --no-faults (skip the faulty clusters), --dfs-mb N (1024),
 *   --only dfs|wc|jt (one part).
 * Then the job tracker's own cost per heartbeat, scheduling a 20,000-map job for 100 simulated
 * trackers (bench/scheduler.ts), against the heartbeats such a cluster sends.
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
import { schedulerBench } from './scheduler.ts';
import { DfsClient } from '../dfs/client.ts';
import { bundleJob } from '../cli/bundle.ts';
import { startCluster, stopCluster, type ClusterState } from '../cli/cluster_launcher.ts';
import { storeBundle, submit, waitForJob } from '../cli/job_client.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const { values: opt } = parseArgs({
  options: {
    mb: { type: 'string', default: '1024' },
    trackers: { type: 'string', default: '3' },
    slots: { type: 'string' },
    'split-mb': { type: 'string', default: '64' },
    reduces: { type: 'string', default: '2' },
    'slow-ms': { type: 'string', default: '5000' },
    'no-faults': { type: 'boolean', default: false },
    'dfs-mb': { type: 'string', default: '1024' },
    only: { type: 'string' },
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
  if (opt.only && !['wc', 'dfs', 'jt'].includes(opt.only)) {
    console.error(`bench: --only takes wc, dfs or jt, not ${opt.only}`);
    process.exit(2);
  }
  if (!opt.only || opt.only === 'wc') await wordCount();
  if (!opt.only || opt.only === 'dfs') await dfs();
  if (!opt.only || opt.only === 'jt') jobTracker();
}

/** The job tracker core's CPU per heartbeat for a big job, and what share of a core a cluster of that size would keep busy. */
function jobTracker(): void {
  const [maps, trackers, slots, reduces] = [20_000, 100, 8, 50];
  const r = schedulerBench(maps, trackers, slots, reduces);
  const perSec = trackers * (1000 / r.intervalMs);
  console.log(`job tracker core: a ${maps}-map, ${reduces}-reduce job (f=1) on ${trackers} simulated trackers x ${slots} slots, ${r.heartbeats} heartbeats`);
  console.log(`  ${fmt(r.meanMs, 2)} ms per heartbeat (p99 ${fmt(r.p99Ms, 1)} ms): ${perSec} heartbeats/s ` +
    `(each tracker every ${r.intervalMs} ms, as the job tracker asks at this size) keep ${fmt(perSec * r.meanMs / 10, 0)}% of one core busy`);
}

/** CPU seconds (user + system, all threads) that process `pid` has used so far. */
function cpuSecs(pid: number): number {
  try {
    // Fields after the parenthesised command name: state is the 3rd field, utime and stime the 14th and 15th.
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch { return NaN; }
}

/** Runs the real CLI, as a user would, and returns its wall time, peak RSS and CPU seconds. */
function cli(home: string, ...args: string[]): { secs: number; rssMb: number; cpuSecs: number } {
  const t = performance.now();
  const r = spawnSync(process.execPath, ['--import', path.join(ROOT, 'bench/maxrss.mjs'), path.join(ROOT, 'bin/bftmr.js'), '--home', home, ...args],
    { encoding: 'utf8' });
  const secs = (performance.now() - t) / 1000;
  if (r.status !== 0) throw new Error(`bftmr ${args.join(' ')}: ${r.stderr}`);
  const kb = Number(/bench-maxrss-kb (\d+)/.exec(r.stderr)?.[1]);
  const cpuUs = Number(/bench-cpu-us (\d+)/.exec(r.stderr)?.[1]);
  return { secs, rssMb: kb / 1024, cpuSecs: cpuUs / 1e6 };
}

async function dfs(): Promise<void> {
  const file = corpus(Number(opt['dfs-mb']));
  const sizeMb = fs.statSync(file).size / MB;
  const home = await fsp.mkdtemp(path.join(os.tmpdir(), 'bftmr-bench-dfs-'));
  const copy = path.join(home, 'copy.txt');
  let state: ClusterState | undefined;
  try {
    console.log(`dfs: a ${fmt(sizeMb)} MB file, ${opt.trackers} storage nodes, replication 3, 64 MB blocks`);
    let t = performance.now();
    execFileSync('cp', [file, copy]);
    const cpSecs = (performance.now() - t) / 1000;
    await fsp.rm(copy);
    row('cp of the same file (same disk)', cpSecs, sizeMb);
    state = await startCluster(home, { trackers: Number(opt.trackers), detached: false });
    const daemons = [state.jobTracker.pid, ...state.trackers.map((x) => x.pid)];
    /** The CPU seconds each daemon spends in `step`, beside the client's own. */
    const cpuOf = <T extends { cpuSecs: number }>(step: () => T): T & { cpu: string } => {
      const before = daemons.map(cpuSecs);
      const r = step();
      const used = daemons.map((pid, i) => cpuSecs(pid) - before[i]!);
      return { ...r, cpu: `CPU-s: client ${fmt(r.cpuSecs)}, job tracker ${fmt(used[0]!)}, storage nodes ${used.slice(1).map((x) => fmt(x)).join(', ')}` };
    };
    const put = cpuOf(() => cli(home, 'dfs', 'put', file, '/bench/big.txt', '--replication', '3'));
    row('bftmr dfs put (replication 3)', put.secs, sizeMb,
      `${fmt(cpSecs / put.secs, 2)}x cp's speed (target >= 150 MB/s); client peak RSS ${fmt(put.rssMb, 0)} MB; ${put.cpu}`);
    // Every block has a copy on this host: the default get reads the nodes' block files itself
    // (short-circuit, dfs/short_circuit.ts); through the nodes is how a client on another host reads.
    const gets = [];
    for (const [label, flags] of [['bftmr dfs get (verified, short-circuit)', []], ['bftmr dfs get (verified, via the nodes)', ['--no-short-circuit']]] as const) {
      const get = cpuOf(() => cli(home, 'dfs', 'get', ...flags, '/bench/big.txt', copy));
      row(label, get.secs, sizeMb, `${fmt(cpSecs / get.secs, 2)}x cp's speed (target >= 400 MB/s); client peak RSS ${fmt(get.rssMb, 0)} MB; ${get.cpu}`);
      // cmp streams: files over 2 GiB do not fit in one Buffer, and no process here should hold one.
      if (spawnSync('cmp', ['-s', copy, file]).status !== 0) throw new Error('dfs get returned other bytes');
      await fsp.rm(copy);
      gets.push(get.rssMb);
    }
    const rss = daemons.map(peakRssMb);
    const all = [put.rssMb, ...gets, ...rss];
    console.log(`peak RSS during put and get: job tracker ${fmt(rss[0]!, 0)} MB; storage nodes ${rss.slice(1).map((x) => fmt(x, 0)).join(', ')} MB; ` +
      `largest of all processes ${fmt(Math.max(...all), 0)} MB (target < 300 MB)`);
  } finally {
    if (state) await stopCluster(state);
    await fsp.rm(home, { recursive: true, force: true });
  }
}

async function wordCount(): Promise<void> {
  const file = corpus(Number(opt.mb));
  const sizeMb = fs.statSync(file).size / MB;
  console.log(`corpus: ${fmt(sizeMb)} MB of real text (Debian dict-gcide, wordnet-base, jargon-text), ${os.availableParallelism()} cores`);

  const baseline = () => {
    const t = performance.now();
    const base = spawnSync(process.execPath, [path.join(ROOT, 'bench/wc_baseline.mjs'), file], { encoding: 'utf8' });
    if (base.status !== 0) throw new Error(base.stderr);
    return { secs: (performance.now() - t) / 1000, distinct: base.stdout.trim().split(' ')[0] };
  };
  const first = baseline();
  row('baseline: single-threaded plain Node script', first.secs, sizeMb, `(${first.distinct} distinct words)`);

  const trackers = Number(opt.trackers);
  const slots = opt.slots ?? 'default';
  const clean = await onCluster(file, sizeMb, {}, [0, 1], true);
  const [f0, f1] = [clean.jobs[0]!, clean.jobs[1]!];
  if (f0.digests.join() !== f1.digests.join()) throw new Error('f=0 and f=1 outputs differ');
  // The script again, after the cluster runs: on a shared machine the two times show how much the
  // load moved, and the ratio uses the faster (the harder one to beat).
  const second = baseline();
  row('baseline again, after the cluster jobs', second.secs, sizeMb, '(f=0 is compared with the faster of the two)');
  const baseSecs = Math.min(first.secs, second.secs);
  row(`bftmr word_count f=0 (${trackers} trackers, ${slots} slots)`, f0.secs, sizeMb,
    `${fmt(baseSecs / f0.secs, 2)}x the single-threaded script (target >= 1.5x); ${f0.status.maps_total} maps, ${f0.status.reduces_total} reduces`);
  row('bftmr word_count f=1 (every task twice, voted)', f1.secs, sizeMb,
    `${fmt(f1.secs / f0.secs, 2)}x the f=0 time (target <= 2.1x); ${f1.status.map_attempts}+${f1.status.reduce_attempts} attempts, same output digests as f=0`);
  console.log(`peak RSS: job tracker ${fmt(clean.rss[0]!, 0)} MB; task trackers ${clean.rss.slice(1).map((x) => fmt(x, 0)).join(', ')} MB (each includes its worker threads)`);
  if (opt['no-faults']) return;

  for (const [fault, target] of [['corrupt-map', 1.15], [`slow:${opt['slow-ms']}`, 1.1]] as const) {
    const run = await onCluster(file, sizeMb, { faulty: 1, fault }, [1], false);
    const j = run.jobs[1]!;
    if (j.digests.join() !== f1.digests.join()) throw new Error(`f=1 with a ${fault} tracker: output differs from the fault-free run`);
    row(`bftmr word_count f=1, one ${fault} tracker`, j.secs, sizeMb,
      `${fmt(j.secs / f1.secs, 2)}x the fault-free f=1 time (target <= ${target}x); ${j.status.map_attempts}+${j.status.reduce_attempts} attempts, ` +
      `${j.status.reduce_reruns} reduce reruns, ${new Set(j.status.verdicts.map((v) => v.tracker_id)).size} tracker(s) named, same output`);
  }
}

interface JobRun { secs: number; status: M.JobStatus; digests: string[] }

/** Starts a cluster, stores the corpus, runs word_count with each f in turn, stops the cluster. */
async function onCluster(file: string, sizeMb: number, faults: { faulty?: number; fault?: string }, fs_: number[], showPut: boolean):
  Promise<{ jobs: Record<number, JobRun>; rss: number[] }> {
  const home = await fsp.mkdtemp(path.join(os.tmpdir(), 'bftmr-bench-'));
  let state: ClusterState | undefined;
  let client: DfsClient | undefined;
  try {
    state = await startCluster(home, { trackers: Number(opt.trackers), slots: opt.slots ? Number(opt.slots) : undefined, detached: false, ...faults });
    client = new DfsClient(state.jobTracker.address);
    const splitBytes = Math.round(Number(opt['split-mb']) * MB);
    let t = performance.now();
    await client.put(file, '/bench/in.txt', { replication: 3, blockBytes: splitBytes });
    if (showPut) row(`dfs put (replication 3, ${opt['split-mb']} MB blocks)`, (performance.now() - t) / 1000, sizeMb);
    const bundle = await bundleJob(path.join(ROOT, 'jobs/word_count.ts'));
    const bundlePath = await storeBundle(client, bundle);
    const jobs: Record<number, JobRun> = {};
    for (const f of fs_) {
      t = performance.now();
      const jobId = await submit(client, bundle, bundlePath, {
        inputs: ['/bench/in.txt'], output: `/bench/f${f}`, f, reduces: Number(opt.reduces), splitBytes, conf: {}, name: `wc-f${f}`, cacheFiles: [],
      });
      const status = await waitForJob(client, jobId, false);
      const secs = (performance.now() - t) / 1000;
      if (status.state !== 'SUCCEEDED') throw new Error(`f=${f}: ${status.error}`);
      const parts = await client.list(`/bench/f${f}`);
      jobs[f] = { secs, status, digests: parts.map((p) => p.blocks[0]!.digest) };
    }
    return { jobs, rss: [state.jobTracker.pid, ...state.trackers.map((x) => x.pid)].map(peakRssMb) };
  } finally {
    client?.close();
    if (state) await stopCluster(state);
    await fsp.rm(home, { recursive: true, force: true });
  }
}

await main();
