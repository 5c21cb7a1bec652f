import test from 'ava';
import { hostShares, SlotPlan, type SharedTracker } from '../jobtracker/core/host_share.ts';

const tracker = (id: string, host: string, cores: number, free = 2, busy = 0): SharedTracker => ({ id, host, cores, free, busy });

test('a host with one tracker keeps its slots, whatever its cores', (t) => {
  const s = hostShares([tracker('A', 'a', 1, 4), tracker('B', 'b', 2, 2)], 1);
  t.deepEqual([...s.free], [['A', 4], ['B', 2]]);
  t.is(s.room.size, 0);
});

test('trackers sharing a host share its cores: each its fair share, the host no more than its cores', (t) => {
  const s = hostShares([tracker('A', 'h', 2), tracker('B', 'h', 2), tracker('C', 'h', 2)], 0);
  t.deepEqual([...s.free], [['A', 1], ['B', 1], ['C', 1]]);
  t.is(s.room.get('h'), 2);
  const plan = new SlotPlan(s);
  t.deepEqual(plan.pick(['A', 'B', 'C'], 3), ['A', 'B']);
  plan.take('A');
  t.is(plan.left('A'), 0);
  t.is(plan.left('B'), 1);
  plan.take('B');
  t.is(plan.left('C'), 0);
  t.is(plan.spread(() => true), 0);
  // 8 cores for 3 trackers of 4 slots: 3 each, 8 in all.
  const big = hostShares([tracker('A', 'h', 8, 4), tracker('B', 'h', 8, 4, 3), tracker('C', 'h', 8, 4, 2)], 0);
  t.deepEqual([...big.free], [['A', 3], ['B', 0], ['C', 1]]);
  t.is(big.room.get('h'), 3);
});

test('a host\'s budget: the least cores its trackers said, stretched to f x share + 1; no word on cores, no limit', (t) => {
  const least = hostShares([tracker('A', 'h', 64), tracker('B', 'h', 2), tracker('C', 'h', 0)], 0);
  t.is(least.room.get('h'), 2);
  // 5 trackers on 2 cores, f=2: a share of 1 each, and 3 in all, so two hung trackers leave one.
  const f2 = hostShares(['A', 'B', 'C', 'D', 'E'].map((id) => tracker(id, 'h', 2)), 2);
  t.is(f2.room.get('h'), 3);
  const silent = hostShares([tracker('A', 'h', 0), tracker('B', 'h', 0)], 1);
  t.deepEqual([...silent.free], [['A', 2], ['B', 2]]);
  t.is(silent.room.size, 0);
});

test('attempts the job tracker still waits for hold the share: a tracker that holds its own cannot take more', (t) => {
  const s = hostShares([tracker('A', 'h', 2, 1, 1), tracker('B', 'h', 2)], 1);
  t.is(s.free.get('A'), 0);
  t.is(s.free.get('B'), 1);
  t.is(s.room.get('h'), 1);
});
