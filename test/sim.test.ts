import test from 'ava';
import { commitProblems } from '../sim/properties.ts';
import { referenceOutput } from '../sim/reference.ts';
import type { Feature } from '../sim/scenario.ts';
import { failureLine, runSeed } from '../sim/simulator.ts';

/**
 * Features the core cannot survive yet, so the seeds below do not draw them. Each entry says why;
 * delete it once the core copes, and the same seeds run with it again (a seed's other choices do
 * not depend on this list). Replay a failing seed with
 * `node --import tsx sim/main.ts --seed S --verbose --exclude <this list>`.
 */
const EXCLUDED_FEATURES: Feature[] = [
  // None: lost and late heartbeat replies are replayed by response id (Hadoop's responseId).
];

/**
 * Seeds a random sweep found failing, each fixed since, kept so they stay fixed: 9118435, a bad
 * copy listed again; 9277930, a reader's report against a node that had not registered again after
 * the job tracker's restart was dropped; 9304381, two trackers sharing a host's one free place
 * each planned it for the other, for a task only the other could run.
 */
const FOUND_BY_SWEEPS = [9118435, 9277930, 9304381];

/** ~18 s on a 2-core machine; each seed is a whole cluster for up to 10 simulated minutes. */
const SEEDS = [...Array.from({ length: 500 }, (_, i) => i + 1), ...FOUND_BY_SWEEPS];

test(`${SEEDS.length} seeds: safety after every step; with at most f faulty trackers every job done and every dfs block back at its replication`, (t) => {
  const failures: string[] = [];
  let events = 0;
  for (const seed of SEEDS) {
    const result = runSeed({ seed, exclude: EXCLUDED_FEATURES });
    events += result.events;
    if (result.violations.length) failures.push(failureLine(result, EXCLUDED_FEATURES));
  }
  t.log(`${SEEDS.length} seeds, ${events} events`);
  t.is(failures.length, 0, `${failures.length} of ${SEEDS.length} seeds failed:\n${failures.join('\n')}`);
});

test('one seed, one trace: a run is a function of its seed', (t) => {
  for (const seed of [7, 1234, 0xdeadbeef]) {
    const lines: string[] = [];
    const a = runSeed({ seed, trace: (l) => lines.push(l) });
    const b = runSeed({ seed });
    t.is(a.traceHash, b.traceHash, `seed ${seed}`);
    t.deepEqual(a.jobs, b.jobs);
    t.true(lines.length > 10, 'the trace says what happened');
  }
  t.not(runSeed({ seed: 7 }).traceHash, runSeed({ seed: 8 }).traceHash);
});

test('excluding a feature changes only what uses it', (t) => {
  // Seed choices are drawn from one stream per concern, whether a feature is excluded or not.
  for (const seed of [3, 5, 11]) {
    const all = runSeed({ seed, maxSimMs: 1 }).scenario;
    const some = runSeed({ seed, maxSimMs: 1, exclude: ['loss-reply', 'late-delivery'] }).scenario;
    t.deepEqual({ ...some, network: undefined }, { ...all, network: undefined });
    t.is(some.network.lossRequest, all.network.lossRequest);
    t.is(some.network.lossReply, 0);
  }
});

test('the commit check rejects a wrong digest, a missing file, too few replicas and a replica without the data', (t) => {
  const jobId = 'job_202401020304_0001';
  const expected = referenceOutput(jobId, '/out', 3, 2);
  const loc = (id: string) => ({ tracker_id: id, address: `${id}:7000` });
  const good = { jobId, files: expected.map((e) => ({ ...e, replicas: [loc('A'), loc('B')] })) };
  t.deepEqual(commitProblems(good, expected, 1, () => true), []);

  const wrongDigest = { jobId, files: good.files.map((x, i) => (i === 1 ? { ...x, digest: '0'.repeat(64) } : x)) };
  t.deepEqual(commitProblems(wrongDigest, expected, 1).map((p) => p.property), ['commit-output']);
  t.deepEqual(commitProblems({ jobId, files: good.files.slice(0, 1) }, expected, 1).map((p) => p.property), ['commit-output']);

  const oneReplica = { jobId, files: good.files.map((x) => ({ ...x, replicas: [loc('A')] })) };
  t.deepEqual(commitProblems(oneReplica, expected, 1).map((p) => p.property), ['commit-replicas', 'commit-replicas']);
  const sameTwice = { jobId, files: good.files.map((x) => ({ ...x, replicas: [loc('A'), loc('A')] })) };
  t.deepEqual(commitProblems(sameTwice, expected, 1).map((p) => p.property), ['commit-replicas', 'commit-replicas']);
  t.deepEqual(commitProblems(oneReplica, expected, 0), [], 'f=0 needs one');

  const problems = commitProblems(good, expected, 1, (id) => id !== 'B');
  t.deepEqual(problems.map((p) => p.property), ['commit-replica-data', 'commit-replica-data']);
  t.regex(problems[0]!.detail, /replica B does not hold/);
});

test('with f+1 colluding trackers the simulator does catch a wrong commit, and names its seed', (t) => {
  // More faulty trackers than the job tolerates can win a vote: the checks must notice.
  const caught: string[] = [];
  for (let seed = 1; seed <= 60 && caught.length === 0; seed++) {
    const result = runSeed({ seed, tooManyFaults: true });
    t.truthy(result.livenessWaived, `seed ${seed}: liveness is not claimed`);
    const v = result.violations.find((x) => x.kind === 'safety');
    if (v) {
      // An honest tracker outvoted is blamed before the wrong output commits.
      t.true(v.property === 'commit-output' || v.property === 'verdict-against-truthful', failureLine(result));
      caught.push(failureLine(result));
    }
  }
  t.is(caught.length, 1);
  t.regex(caught[0]!, /^seed \d+: safety (commit-output|verdict-against-truthful) at \d+ms: .*\(replay: --seed \d+\)$/);
});
