import test from 'ava';
import { maxVotes, possiblyFaulty, quorum, tally, type Vote } from '../jobtracker/core/vote.ts';
import { TaskInProgress, voteValue, type Attempt, type AttemptState } from '../jobtracker/core/task_in_progress.ts';

const votes = (...pairs: [string, string][]): Vote[] => pairs.map(([trackerId, value]) => ({ trackerId, value }));

/** Adds an attempt on `trackerId` to `t`: running, or finished with the given digest vector. */
function attempt(t: TaskInProgress, trackerId: string, digests?: string[], state?: AttemptState): Attempt {
  const a: Attempt = {
    id: t.newAttemptId(),
    trackerId,
    startMs: 0,
    inputBytes: 0,
    allowanceMs: 0,
    state: state ?? (digests ? 'succeeded' : 'running'),
    digests,
    sizes: digests?.map((_, i) => 100 + i),
  };
  t.attempts.push(a);
  return a;
}

// ---------------------------------------------------------------- vote.ts

test('quorum is f+1 and maxVotes is 2f+1', (t) => {
  t.deepEqual([0, 1, 2, 3].map(quorum), [1, 2, 3, 4]);
  t.deepEqual([0, 1, 2, 3].map(maxVotes), [1, 3, 5, 7]);
});

test('possiblyFaulty: only trackers in some set of at most f that meets every dispute', (t) => {
  const sorted = (s: Set<string>) => [...s].sort();
  t.deepEqual(sorted(possiblyFaulty([], 1)), []);
  // One dispute: either side may be the liar.
  t.deepEqual(sorted(possiblyFaulty([['A', 'B']], 1)), ['A', 'B']);
  // A disagrees with B on one task and with C on another: with one liar, it is A.
  t.deepEqual(sorted(possiblyFaulty([['A', 'B'], ['A', 'C']], 1)), ['A']);
  // With f=2, B and C together explain both disputes as well.
  t.deepEqual(sorted(possiblyFaulty([['A', 'B'], ['A', 'C']], 2)), ['A', 'B', 'C']);
  // Disjoint disputes with f=2: two liars, one in each; any of the four.
  t.deepEqual(sorted(possiblyFaulty([['A', 'B'], ['C', 'D']], 2)), ['A', 'B', 'C', 'D']);
  // Three disputes around A and one between B and C, f=2: A and one of B, C.
  t.deepEqual(sorted(possiblyFaulty([['A', 'B'], ['A', 'C'], ['A', 'D'], ['B', 'C']], 2)), ['A', 'B', 'C']);
  // No set of one meets both disjoint disputes: more than f are faulty, all are suspect.
  t.deepEqual(sorted(possiblyFaulty([['A', 'B'], ['C', 'D']], 1)), ['A', 'B', 'C', 'D']);
  // f=0: nobody may be faulty, so any dispute means more than f are.
  t.deepEqual(sorted(possiblyFaulty([['A', 'B']], 0)), ['A', 'B']);
});

test('tally of no votes decides nothing', (t) => {
  t.deepEqual(tally([], 1), { decided: undefined, agreeing: [], maxAgreement: 0, values: 0 });
});

test('f=0: a single vote decides', (t) => {
  t.deepEqual(tally(votes(['a', 'X']), 0), { decided: 'X', agreeing: ['a'], maxAgreement: 1, values: 1 });
});

test('f=1: one vote does not decide, two matching from distinct trackers do', (t) => {
  const one = tally(votes(['a', 'X']), 1);
  t.is(one.decided, undefined);
  t.deepEqual(one.agreeing, []);
  t.is(one.maxAgreement, 1);

  const two = tally(votes(['a', 'X'], ['b', 'X']), 1);
  t.is(two.decided, 'X');
  t.deepEqual(two.agreeing, ['a', 'b']);
  t.is(two.maxAgreement, 2);
  t.is(two.values, 1);
});

test('f=1: a mismatch decides nothing; a third vote breaks the tie', (t) => {
  const split = tally(votes(['a', 'X'], ['b', 'Y']), 1);
  t.is(split.decided, undefined);
  t.is(split.maxAgreement, 1);
  t.is(split.values, 2);

  const settled = tally(votes(['a', 'X'], ['b', 'Y'], ['c', 'Y']), 1);
  t.is(settled.decided, 'Y');
  t.deepEqual(settled.agreeing, ['b', 'c']);
  t.is(settled.maxAgreement, 2);
  t.is(settled.values, 2);
});

test('f=2: f matching votes do not decide, f+1 do', (t) => {
  const f = 2;
  const two = tally(votes(['a', 'X'], ['b', 'X'], ['c', 'Y']), f);
  t.is(two.decided, undefined);
  t.is(two.maxAgreement, 2);
  t.is(two.values, 2);

  const three = tally(votes(['a', 'X'], ['b', 'Y'], ['c', 'X'], ['d', 'Z'], ['e', 'X']), f);
  t.is(three.decided, 'X');
  t.deepEqual(three.agreeing, ['a', 'c', 'e']);
  t.is(three.maxAgreement, 3);
  t.is(three.values, 3);
});

test('2f+1 pairwise different votes: no decision', (t) => {
  const r = tally(votes(['a', 'X'], ['b', 'Y'], ['c', 'Z']), 1);
  t.is(r.decided, undefined);
  t.is(r.maxAgreement, 1);
  t.is(r.values, 3);
});

test('a tracker voting twice on one task breaks an invariant', (t) => {
  // Twice the same value: counting it would let one tracker make a quorum on its own.
  t.throws(() => tally(votes(['a', 'X'], ['a', 'X']), 1), { message: /invariant violated: tracker a voted twice/ });
  t.throws(() => tally(votes(['a', 'X'], ['b', 'Y'], ['a', 'Y']), 1), { message: /voted twice/ });
});

// ---------------------------------------------------------------- TaskInProgress

test('attempt ids name the job, kind and index, and are never recycled', (t) => {
  const m = new TaskInProgress('job_1', 'map', 7, 1);
  const r = new TaskInProgress('job_1', 'reduce', 12, 1);
  t.is(m.newAttemptId(), 'attempt_job_1_m_000007_0');
  t.is(m.newAttemptId(), 'attempt_job_1_m_000007_1');
  t.is(r.newAttemptId(), 'attempt_job_1_r_000012_0');
  t.is(m.name, 'map task 7');
  t.is(voteValue(['d0', 'd1']), 'd0,d1');
});

for (const f of [0, 1, 2]) {
  test(`f=${f}: a fresh task wants f+1 attempts, and none while f+1 run`, (t) => {
    const task = new TaskInProgress('j', 'map', 0, f);
    t.is(task.attemptsWanted(), f + 1);
    for (let i = 0; i < f + 1; i++) attempt(task, `t${i}`);
    t.is(task.attemptsWanted(), 0);
    t.false(task.tryDecide());
    t.false(task.hopeless());
  });

  test(`f=${f}: f+1 matching votes from distinct trackers decide, f do not`, (t) => {
    const task = new TaskInProgress('j', 'map', 0, f);
    const as: Attempt[] = [];
    for (let i = 0; i < f; i++) as.push(attempt(task, `t${i}`, ['d0', 'd1']));
    t.false(task.tryDecide());
    t.is(task.decided, undefined);
    t.is(task.attemptsWanted(), 1);

    as.push(attempt(task, `t${f}`, ['d0', 'd1']));
    t.true(task.tryDecide());
    t.deepEqual(task.decided?.digests, ['d0', 'd1']);
    t.deepEqual(task.decided?.sizes, [100, 101]);
    t.is(task.decided?.value, 'd0,d1');
    t.deepEqual(task.decided?.agreeing.map((a) => a.trackerId), as.map((a) => a.trackerId));
    t.is(task.attemptsWanted(), 0);
    t.false(task.hopeless());
    t.deepEqual(task.losers(), []);
    // Deciding is reported once.
    t.false(task.tryDecide());
  });
}

test('f=1: after a mismatch exactly one more attempt is wanted, and the third vote decides', (t) => {
  const task = new TaskInProgress('j', 'map', 0, 1);
  attempt(task, 'a', ['good']);
  const bad = attempt(task, 'b', ['bad']);
  t.false(task.tryDecide());
  t.is(task.attemptsWanted(), 1);
  t.false(task.hopeless());
  t.deepEqual([...task.usedTrackers()].sort(), ['a', 'b']);

  attempt(task, 'c');
  t.is(task.attemptsWanted(), 0);
  t.false(task.hopeless(), 'not hopeless while the third attempt runs');

  task.attempts[2]!.state = 'succeeded';
  task.attempts[2]!.digests = ['good'];
  task.attempts[2]!.sizes = [1];
  t.true(task.tryDecide());
  t.deepEqual(task.decided?.agreeing.map((a) => a.trackerId), ['a', 'c']);
  t.deepEqual(task.losers(), [bad]);
});

test('f=1: a tracker proven faulty in the job is not counted on: its task gets the next attempt at once', (t) => {
  const proven = (id: string) => id === 'liar';
  const reported = new TaskInProgress('j', 'map', 0, 1);
  attempt(reported, 'liar', ['bad']);
  attempt(reported, 'a'); // still running
  t.is(reported.attemptsWanted(), 0, 'without the proof, the honest attempt is awaited first');
  t.is(reported.attemptsWanted(() => false, proven), 1);
  const running = new TaskInProgress('j', 'map', 1, 1);
  attempt(running, 'liar');
  attempt(running, 'a');
  t.is(running.attemptsWanted(() => false, proven), 1);
  attempt(running, 'b');
  t.is(running.attemptsWanted(() => false, proven), 0, 'two attempts it does not depend on are enough');
  // Its vote still counts when it agrees: a liar may tell the truth.
  const agreeing = new TaskInProgress('j', 'map', 2, 1);
  attempt(agreeing, 'liar', ['good']);
  attempt(agreeing, 'a', ['good']);
  t.true(agreeing.tryDecide());
});

test('f=1: hopeless after 2f+1 disagreeing votes, and nothing more is wanted', (t) => {
  const task = new TaskInProgress('j', 'reduce', 0, 1);
  attempt(task, 'a', ['x']);
  attempt(task, 'b', ['y']);
  attempt(task, 'c', ['z']);
  t.false(task.tryDecide());
  t.is(task.attemptsWanted(), 0);
  t.true(task.hopeless());
  t.deepEqual(task.losers(), [], 'no losers without a decision');
});

test('f=2: hopeless only after 5 votes without 3 agreeing', (t) => {
  const task = new TaskInProgress('j', 'map', 0, 2);
  for (const [id, v] of [['a', 'x'], ['b', 'x'], ['c', 'y'], ['d', 'y']] as const) attempt(task, id, [v]);
  t.false(task.tryDecide());
  t.false(task.hopeless());
  t.is(task.attemptsWanted(), 1);
  attempt(task, 'e', ['z']);
  t.false(task.tryDecide());
  t.true(task.hopeless());
  t.is(task.attemptsWanted(), 0);
});

test('never more than 2f+1 votes are wanted, whatever the votes so far', (t) => {
  for (const f of [0, 1, 2, 3]) {
    // Every vote a different value: the worst case for reaching agreement.
    const task = new TaskInProgress('j', 'map', 0, f);
    let launched = 0;
    for (let step = 0; step < 20; step++) {
      const want = task.attemptsWanted();
      t.true(task.succeeded().length + task.running().length + want <= maxVotes(f), `f=${f} step ${step}`);
      if (want === 0) break;
      attempt(task, `t${launched}`, [`v${launched}`]);
      launched++;
    }
    t.is(launched, maxVotes(f), `f=${f}: launches until 2f+1 votes`);
    t.true(task.hopeless());
  }
});

test('f=2: wanted attempts count agreement and running attempts', (t) => {
  const task = new TaskInProgress('j', 'map', 0, 2);
  attempt(task, 'a', ['x']);
  attempt(task, 'b', ['y']);
  // Best value has 1 vote: 2 more would make 3, and 3 votes of room remain.
  t.is(task.attemptsWanted(), 2);
  attempt(task, 'c');
  t.is(task.attemptsWanted(), 1);
  attempt(task, 'd', ['x']);
  // x has 2 votes, c runs: if c agrees we are done.
  t.is(task.attemptsWanted(), 0);
});

test('failed and stale attempts cast no vote; stale and not-its-fault ones do not use up their tracker', (t) => {
  const task = new TaskInProgress('j', 'reduce', 0, 1);
  attempt(task, 'a', ['x'], 'stale');
  attempt(task, 'b', undefined, 'failed');
  const bad = attempt(task, 'c', undefined, 'failed');
  bad.notItsFault = true;
  t.deepEqual(task.votes(), []);
  t.is(task.attemptsWanted(), 2);
  t.deepEqual([...task.usedTrackers()], ['b']);
  t.deepEqual(task.failedTrackers(), ['b']);
  t.false(task.hopeless());
});

test('tryDecide on two votes from one tracker breaks an invariant', (t) => {
  const task = new TaskInProgress('j', 'map', 0, 1);
  attempt(task, 'a', ['x']);
  attempt(task, 'a', ['x']);
  t.throws(() => task.tryDecide(), { message: /voted twice/ });
  t.is(task.decided, undefined);
});
