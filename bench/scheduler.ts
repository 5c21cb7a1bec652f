/**
 * The job tracker's own cost at scale: its core (jobtracker/core) scheduling one big job for
 * trackers simulated in this process, each heartbeating with all its slots free and reporting
 * every attempt it was given at its next heartbeat (honest digests). That is more reports per
 * heartbeat than a real cluster sends, so it overstates the cost a little.
 */
import { sha256 } from '../lib/digest.ts';
import { JobTrackerCore } from '../jobtracker/core/jobtracker_core.ts';
import type { AttemptReport, BlockRef, LaunchMap, LaunchReduce } from '../lib/messages.ts';
import type { JobSpec } from '../jobtracker/core/types.ts';
import { kJobTrackerDefaults } from '../lib/options.ts';

export interface SchedulerResult {
  heartbeats: number;
  meanMs: number;
  p99Ms: number;
  rounds: number;
  /** How often the job tracker asks trackers of a cluster this size to heartbeat. */
  intervalMs: number;
}

export function schedulerBench(maps: number, trackers: number, slots: number, reduces: number): SchedulerResult {
  let now = Date.UTC(2026, 0, 1);
  let x = 7;
  const random = () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 2 ** 32; };
  const core = new JobTrackerCore({ heartbeatIntervalMs: kJobTrackerDefaults.heartbeatIntervalMs, trackerExpiryMs: 3_600_000, blacklistAfterVerdicts: 5, pairWaitMs: 0 }, random, now);
  const ids = Array.from({ length: trackers }, (_, i) => core.register({ tracker_id: '', address: `10.0.${i >> 8}.${i & 255}:7000`, pid: 1, slots, fault: '' }, now));
  const block = (name: string, hosts: string[]): BlockRef => ({ digest: sha256(name), size: 64 << 20, replicas: hosts.map((h) => ({ tracker_id: h, address: h })) });
  const hosts = (i: number) => [0, 1, 2].map((k) => ids[(i + k * 7) % trackers]!);
  const spec: JobSpec = {
    name: 'scheduler bench', bundle: block('bundle', ids.slice(0, 3)), conf: [], f: 1, numReduces: reduces, output: '/out',
    splits: Array.from({ length: maps }, (_, i) => ({
      path: '/in', offset: i * (64 << 20), length: 64 << 20, fileSize: maps * (64 << 20), hosts: hosts(i),
      blocks: [{ block: block(`in-${i}`, hosts(i)), offset: i * (64 << 20) }],
    })),
  };
  const intervalMs = core.heartbeatIntervalMs();
  const job = core.submit(spec, now);
  const given = new Map<string, (LaunchMap | LaunchReduce)[]>(ids.map((id) => [id, []]));
  const lastReply = new Map<string, number>();
  const report = (a: LaunchMap | LaunchReduce): AttemptReport => {
    const digests = 'map_index' in a ? Array.from({ length: a.num_reduces }, (_, p) => sha256(`m${a.map_index}/${p}`)) : [sha256(`r${a.partition}`)];
    return { attempt_id: a.attempt_id, ok: true, error: '', counters: [], duration_ms: 1000, bad_source_tracker: '', bad_source_digest: '',
      local_read: true, digests, sizes: digests.map(() => 1) };
  };
  const times: number[] = [];
  let rounds = 0;
  while (core.job(job, now).reduces_decided < reduces) {
    if (++rounds > 10 * (maps + reduces)) throw new Error('the scheduler bench job does not finish');
    for (const id of ids) {
      const reports = given.get(id)!.map(report);
      const t = performance.now();
      const reply = core.heartbeat({ tracker_id: id, free_slots: slots, reports, running: [], last_response_id: lastReply.get(id) ?? 0 }, now);
      times.push(performance.now() - t);
      lastReply.set(id, reply.response_id);
      given.set(id, reply.actions.flatMap((a): (LaunchMap | LaunchReduce)[] =>
        ('launch_map' in a && a.launch_map ? [a.launch_map] : 'launch_reduce' in a && a.launch_reduce ? [a.launch_reduce] : [])));
    }
    now += kJobTrackerDefaults.heartbeatIntervalMs;
    core.tick(now);
    core.takeEffects();
  }
  times.sort((a, b) => a - b);
  return { heartbeats: times.length, meanMs: times.reduce((a, b) => a + b, 0) / times.length, p99Ms: times[Math.floor(times.length * 0.99)]!, rounds, intervalMs };
}
