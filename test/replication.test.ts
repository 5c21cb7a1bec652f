/**
 * The replication monitor (jobtracker/core/replication.ts), pure and fast: repairs, losses,
 * garbage collection, block reports, safe mode; and through the core, how an accusation becomes
 * an audit and only the audit's own finding a verdict.
 */
import test, { type ExecutionContext } from 'ava';
import { JobTrackerCore } from '../jobtracker/core/jobtracker_core.ts';
import { kReplicationDefaults, ReplicationMonitor, type ReplicationOptions } from '../jobtracker/core/replication.ts';
import type { Effect } from '../jobtracker/core/types.ts';
import type { ReplicateBlock, TaskAction } from '../lib/messages.ts';
import { sha256 } from '../lib/digest.ts';

const D = (s: string) => sha256(s);
/** A block report without ages (as the simulator's trackers send). */
const H = (...digests: string[]) => digests.map((digest) => ({ digest }));

/** Trackers as the core would show them: ids, and which are alive and trusted. */
class Cluster {
  readonly up = new Set<string>();
  readonly blacklisted = new Set<string>();
  readonly leaving = new Set<string>();
  /** Blocks running jobs read. */
  readonly read = new Set<string>();
  constructor(...ids: string[]) { for (const id of ids) this.up.add(id); }
  view() {
    return {
      usable: (id: string) => this.up.has(id) && !this.blacklisted.has(id) && !this.leaving.has(id),
      serves: (id: string) => this.up.has(id) && !this.blacklisted.has(id),
      alive: (id: string) => this.up.has(id),
      location: (id: string) => ({ tracker_id: id, address: `${id}:1` }),
      usableIds: () => [...this.up].filter((id) => !this.blacklisted.has(id) && !this.leaving.has(id)).sort(),
      jobBlocks: () => this.read,
    };
  }
}

/** A seeded random, so a failure replays. */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 0x100000000);
}

function monitor(cluster: Cluster, opts: Partial<ReplicationOptions> = {}, safeUntilMs = 0, startMs?: number): ReplicationMonitor {
  return new ReplicationMonitor({ ...kReplicationDefaults, auditIntervalMs: 0, ...opts }, seeded(7), cluster.view(), safeUntilMs, startMs);
}

const repairsIn = (actions: TaskAction[]): ReplicateBlock[] =>
  actions.flatMap((a) => ('replicate_block' in a ? [a.replicate_block] : []));
const deletesIn = (actions: TaskAction[]): string[] =>
  actions.flatMap((a) => ('delete_blocks' in a ? a.delete_blocks.digests : []));

function takeAll(m: ReplicationMonitor, ids: string[], now = 0): Map<string, TaskAction[]> {
  return new Map(ids.map((id) => [id, m.take(id, now)]));
}

test('an under-replicated block is copied to a live tracker not holding it, from its live replicas', (t) => {
  const c = new Cluster('A', 'B', 'C', 'D');
  const m = monitor(c);
  m.track(D('x'), 10, 3, ['A', 'B'], 0);
  t.deepEqual(m.takeChanged(), [{ digest: D('x'), replicas: ['A', 'B'] }]);
  m.tick(1);
  const out = takeAll(m, ['A', 'B', 'C', 'D']);
  const repairs = [...out.entries()].flatMap(([id, a]) => repairsIn(a).map((r) => ({ id, r })));
  t.is(repairs.length, 1);
  const { id: target, r } = repairs[0]!;
  t.true(target === 'C' || target === 'D');
  t.is(r.digest, D('x'));
  t.deepEqual(r.sources.map((s) => s.tracker_id).sort(), ['A', 'B']);
  t.is(m.health(D('x'))!.state, 'UNDER_REPLICATED');
  t.is(m.health(D('x'))!.repairing, 1);
  // Nothing more while that copy is on its way.
  m.tick(2);
  t.is([...takeAll(m, ['A', 'B', 'C', 'D']).values()].flatMap(repairsIn).length, 0);
  t.deepEqual(m.repairResult(target, { repair_id: r.repair_id, digest: D('x'), ok: true, error: '', bad_sources: [] }, 3), []);
  t.deepEqual(m.takeChanged(), [{ digest: D('x'), replicas: ['A', 'B', target] }]);
  t.is(m.health(D('x'))!.state, 'HEALTHY');
  m.tick(4);
  t.is([...takeAll(m, ['A', 'B', 'C', 'D']).values()].flatMap(repairsIn).length, 0);
});

test('a lost tracker\'s copies no longer count and are made again elsewhere, a bounded number at a time', (t) => {
  const c = new Cluster('A', 'B', 'C', 'D', 'E');
  const m = monitor(c, { maxRepairsPerTracker: 1 });
  const blocks = ['1', '2', '3', '4', '5', '6'].map(D);
  for (const d of blocks) m.track(d, 10, 3, ['A', 'B', 'C'], 0);
  m.takeChanged();
  c.up.delete('C');
  m.trackerDown('C');
  t.deepEqual(m.takeChanged().map((x) => x.replicas), blocks.map(() => ['A', 'B']));
  for (const d of blocks) t.deepEqual(m.health(d)!.live, ['A', 'B']);
  m.tick(1);
  const out = takeAll(m, ['A', 'B', 'D', 'E']);
  // D and E may each make one copy at a time; A and B already hold every block.
  t.is(repairsIn(out.get('D')!).length, 1);
  t.is(repairsIn(out.get('E')!).length, 1);
  t.is(repairsIn(out.get('A')!).length + repairsIn(out.get('B')!).length, 0);
  // As copies are reported, the rest follow, until every block has three live copies.
  let now = 2;
  let pending = [...out.entries()].flatMap(([id, a]) => repairsIn(a).map((r) => ({ id, r })));
  while (pending.length) {
    for (const { id, r } of pending) m.repairResult(id, { repair_id: r.repair_id, digest: r.digest, ok: true, error: '', bad_sources: [] }, now);
    m.tick(++now);
    pending = [...takeAll(m, ['A', 'B', 'D', 'E']).entries()].flatMap(([id, a]) => repairsIn(a).map((r) => ({ id, r })));
    t.true(pending.length <= 2);
  }
  for (const d of blocks) {
    t.is(m.health(d)!.state, 'HEALTHY');
    t.is(m.health(d)!.live.length, 3);
    t.false(m.health(d)!.live.includes('C'));
  }
});

test('a failed or silent repair is tried again, on another tracker first', (t) => {
  const c = new Cluster('A', 'B', 'C', 'D');
  const m = monitor(c, { repairTimeoutMs: 100 });
  m.track(D('x'), 10, 2, ['A'], 0);
  m.tick(1);
  const first = [...takeAll(m, ['B', 'C', 'D']).entries()].find(([, a]) => repairsIn(a).length)!;
  const [target, actions] = first;
  const r = repairsIn(actions)[0]!;
  m.repairResult(target, { repair_id: r.repair_id, digest: r.digest, ok: false, error: 'no space', bad_sources: [] }, 2);
  m.tick(3);
  const second = [...takeAll(m, ['B', 'C', 'D']).entries()].find(([, a]) => repairsIn(a).length)!;
  t.not(second[0], target, 'the tracker that just failed is not asked again while others can be');
  // The second target never answers: after the timeout the repair goes to a third.
  m.tick(200);
  const third = [...takeAll(m, ['B', 'C', 'D']).entries()].find(([, a]) => repairsIn(a).length)!;
  t.not(third[0], second[0]);
  t.is(m.health(D('x'))!.repairing, 1);
  // A late report of the abandoned repair adds nothing.
  const late = repairsIn(second[1])[0]!;
  m.repairResult(second[0], { repair_id: late.repair_id, digest: late.digest, ok: true, error: '', bad_sources: [] }, 201);
  t.deepEqual(m.health(D('x'))!.live, ['A']);
});

test('a copy a tracker pulled for a repair this monitor did not ask for (its job tracker restarted since) is deleted, or re-admitted if the block is short', (t) => {
  const c = new Cluster('A', 'B', 'C');
  const m = monitor(c);
  m.track(D('full'), 10, 1, ['A'], 0);
  m.track(D('short'), 10, 2, ['A'], 0);
  m.takeChanged();
  // Repair 41 was the last run's: this one never asked B for either block.
  m.repairResult('B', { repair_id: 41, digest: D('full'), ok: true, error: '', bad_sources: [] }, 1);
  m.repairResult('B', { repair_id: 42, digest: D('short'), ok: true, error: '', bad_sources: [] }, 1);
  const actions = m.take('B', 2);
  t.deepEqual(deletesIn(actions), [D('full')], 'garbage: the block has its copies');
  const shown = repairsIn(actions);
  t.deepEqual(shown.map((r) => r.digest), [D('short')], 'the short block asks B to show its copy');
  m.repairResult('B', { repair_id: shown[0]!.repair_id, digest: D('short'), ok: true, error: '', bad_sources: [] }, 3);
  t.deepEqual(m.health(D('short'))!.live.sort(), ['A', 'B']);
});

test('a block with no live copy is missing, and nothing is scheduled for it', (t) => {
  const c = new Cluster('A', 'B', 'C');
  const m = monitor(c);
  m.track(D('x'), 10, 2, ['A'], 0);
  c.up.delete('A');
  m.trackerDown('A');
  m.tick(1);
  t.is(m.health(D('x'))!.state, 'MISSING');
  t.is([...takeAll(m, ['B', 'C']).values()].flatMap(repairsIn).length, 0);
});

test('a forgotten block is deleted on its holders; a later claim on those trackers is checked, not believed', (t) => {
  const c = new Cluster('A', 'B', 'C');
  const m = monitor(c);
  m.track(D('x'), 10, 2, ['A', 'B'], 0);
  m.forget(D('x'));
  t.false(m.tracked(D('x')));
  const out = takeAll(m, ['A', 'B', 'C'], 10);
  t.deepEqual(deletesIn(out.get('A')!), [D('x')]);
  t.deepEqual(deletesIn(out.get('B')!), [D('x')]);
  t.deepEqual(deletesIn(out.get('C')!), []);
  for (const id of ['A', 'B', 'C']) m.repliesAcknowledged(id); // their next heartbeats say they had those replies
  // The same bytes are put again and A and B acknowledge them: A and B may have written before
  // their delete ran, so each is asked to show it holds the block (a pull that is free if it does).
  m.track(D('x'), 10, 2, ['A', 'B'], 20);
  t.deepEqual(m.health(D('x'))!.live, []);
  const again = takeAll(m, ['A', 'B', 'C'], 21);
  t.deepEqual(repairsIn(again.get('A')!).map((r) => r.digest), [D('x')]);
  t.deepEqual(repairsIn(again.get('B')!).map((r) => r.digest), [D('x')]);
  const r = repairsIn(again.get('A')!)[0]!;
  m.repairResult('A', { repair_id: r.repair_id, digest: r.digest, ok: true, error: '', bad_sources: [] }, 22);
  t.deepEqual(m.health(D('x'))!.live, ['A']);
  // Long after a delete, a claim is believed again.
  m.forget(D('y'));
  m.track(D('y'), 10, 1, ['C'], 0);
  m.forget(D('y'));
  takeAll(m, ['C'], 30);
  m.track(D('y'), 10, 1, ['C'], 30 + kReplicationDefaults.tombstoneMs + 1);
  t.deepEqual(m.health(D('y'))!.live, ['C']);
});

test('a delete not yet sent is cancelled when the block is wanted again', (t) => {
  const c = new Cluster('A', 'B');
  const m = monitor(c);
  m.track(D('x'), 10, 1, ['A'], 0);
  m.forget(D('x'));
  m.track(D('x'), 10, 1, ['A'], 1);
  t.deepEqual(m.health(D('x'))!.live, ['A']);
  t.deepEqual(deletesIn(m.take('A', 2)), []);
});

test('a bad copy no file lists is deleted; a listed replica is not; a claim after the delete is checked against the believed copies', (t) => {
  const c = new Cluster('A', 'B', 'C', 'D');
  const m = monitor(c);
  m.track(D('x'), 10, 2, ['A', 'B'], 0);
  m.discard('C', D('x')); // C holds bad bytes of x that no file lists
  m.discard('A', D('x')); // A is a replica: discard never deletes it
  m.discard('C', D('new')); // a block no file lists yet
  m.track(D('x'), 10, 2, ['A', 'B'], 1); // a file lists x again, not on C: C's delete still goes
  t.deepEqual(deletesIn(m.take('C', 1)).sort(), [D('x'), D('new')].sort());
  m.repliesAcknowledged('C'); // C's next heartbeat says it had that reply
  t.deepEqual(deletesIn(m.take('A', 1)), []);
  t.deepEqual(m.health(D('x'))!.live, ['A', 'B']);
  // If C's copy is then claimed after all (a put of the same bytes), it is checked, not believed,
  // by a pull from every copy that is believed, whatever the order of the claims.
  m.track(D('new'), 10, 3, ['C', 'D', 'A'], 2);
  t.deepEqual(m.health(D('new'))!.live, ['D', 'A']);
  const [check] = repairsIn(m.take('C', 3));
  t.is(check!.digest, D('new'));
  t.deepEqual(check!.sources.map((x) => x.tracker_id).sort(), ['A', 'D']);
});

test('a block report drops replicas the tracker no longer holds and deletes what no file needs from it', (t) => {
  const c = new Cluster('A', 'B', 'C');
  const m = monitor(c);
  m.track(D('kept'), 10, 2, ['A', 'B'], 0);
  m.track(D('lost'), 10, 2, ['A', 'B'], 0);
  m.track(D('elsewhere'), 10, 2, ['B', 'C'], 0);
  m.takeChanged();
  m.trackerUp('A', H(D('kept'), D('elsewhere'), D('orphan')), 0);
  t.deepEqual(m.health(D('kept'))!.live, ['A', 'B']);
  t.deepEqual(m.health(D('lost'))!.live, ['B']);
  t.deepEqual(m.takeChanged(), [{ digest: D('lost'), replicas: ['B'] }]);
  t.deepEqual(deletesIn(m.take('A', 1)).sort(), [D('elsewhere'), D('orphan')].sort());
  // Without a report (a tracker that stores nothing, as in the simulator) nothing changes.
  m.trackerUp('B', undefined, 0);
  t.deepEqual(m.health(D('kept'))!.live, ['A', 'B']);
});

test('holdings: the blocks listed on each tracker and their bytes, as a block report and a loss change them', (t) => {
  const c = new Cluster('A', 'B', 'C');
  const m = monitor(c);
  m.track(D('x'), 10, 2, ['A', 'B'], 0);
  m.track(D('y'), 25, 2, ['A', 'C'], 0);
  t.deepEqual(['A', 'B', 'C', 'Z'].map((id) => m.holdings(id)), [{ blocks: 2, bytes: 35 }, { blocks: 1, bytes: 10 }, { blocks: 1, bytes: 25 }, { blocks: 0, bytes: 0 }]);
  m.trackerUp('A', H(D('y')), 0);
  t.deepEqual(m.holdings('A'), { blocks: 1, bytes: 25 });
  c.up.delete('C');
  m.trackerDown('C');
  t.deepEqual(m.holdings('C'), { blocks: 0, bytes: 0 });
  m.forget(D('y'));
  t.deepEqual(m.holdings('A'), { blocks: 0, bytes: 0 });
});

test('a periodic block report collects copies no file lists, once no write in progress can own them (leases)', (t) => {
  const c = new Cluster('A', 'B');
  const m = monitor(c, { writeLeaseMs: 1_000 }, 0, 0);
  const report = (now: number, ...held: [string, number][]) => {
    m.blockReport('A', held.map(([d, storedMs]) => ({ digest: D(d), ageMs: now - storedMs })), now);
    return deletesIn(m.take('A', now)).sort();
  };
  for (const at of [100, 1_000, 2_000, 3_000, 4_000, 4_500]) t.true(m.leases.renew('w1', 100, at)); // a put began at 100
  // Stored after the put began: maybe one of its blocks. Stored before: garbage. Too young: wait.
  t.deepEqual(report(5_000, ['mine', 1_000], ['old', 50], ['young', 4_800]), [D('old')]);
  m.leases.release('w1', 5_000); // its file is created (or it gave up)
  t.deepEqual(report(5_000, ['mine', 1_000], ['young', 4_800]), [D('mine')]);
  t.deepEqual(report(6_000, ['young', 4_800]), [D('young')]);
  // A lease not renewed within writeLeaseMs lapses: its client died.
  m.leases.renew('w2', 7_000, 7_000);
  t.deepEqual(report(8_000, ['w2', 7_000]), []);
  t.deepEqual(report(8_001, ['w2', 7_000]), [D('w2')]);
  // A listed copy is never collected; a copy of a block short of copies is taken back, however young.
  m.track(D('listed'), 10, 1, ['A'], 9_300);
  m.track(D('short'), 10, 2, ['B'], 9_300);
  t.deepEqual(report(20_000, ['listed', 0], ['short', 19_999]), []);
  t.is(m.health(D('short'))!.repairing, 1);
  // A tracker that is not alive is not listened to.
  c.up.delete('A');
  t.deepEqual(report(30_000, ['gone', 0]), []);
});

test('a block report\'s delete carries the tracker\'s clock of the request it was decided on: a copy stored after that (a new put of the same bytes) is spared', (t) => {
  const c = new Cluster('A', 'B');
  const m = monitor(c, { writeLeaseMs: 1_000 }, 0, 0);
  const deleteActions = (now: number) => m.take('A', now).flatMap((a) => ('delete_blocks' in a ? [a.delete_blocks] : []));
  // A tracker whose clock is a day off ours: its clock is carried, never compared.
  const day = 86_400_000;
  m.trackerClock('A', day + 5_000);
  m.blockReport('A', [{ digest: D('orphan'), ageMs: 4_000 }], 5_000);
  m.trackerClock('A', day + 5_250); // a later heartbeat, before the reply with the delete goes
  // A put of the same bytes begins now and stores them on A: that delete spares its copy (newer than
  // the report), so the put's file is not refused for it, while the delete waits or once it went.
  t.true(m.leases.renew('p', 5_100, 5_100));
  t.false(m.unbacked(D('orphan'), ['A'], 'p', 5_200));
  t.deepEqual(deleteActions(5_300), [{ digests: [D('orphan')], unless_stored_after_ms: day + 5_000 }]);
  t.false(m.unbacked(D('orphan'), ['A'], 'p', 5_350));
  m.leases.release('p', 5_350);
  // Decided at two reports: the condition is the earlier one (the other copy waits a report at worst).
  // A copy this job tracker knows more of (a removed file's) goes without one.
  m.track(D('f1'), 10, 1, ['A'], 5_400);
  m.blockReport('A', [{ digest: D('o1'), ageMs: 4_000 }, { digest: D('f1'), ageMs: 4_000 }], 5_400);
  m.trackerClock('A', day + 6_000);
  m.blockReport('A', [{ digest: D('o2'), ageMs: 4_000 }, { digest: D('f1'), ageMs: 4_000 }], 6_000);
  m.forget(D('f1'));
  t.deepEqual(deleteActions(6_100), [{ digests: [D('f1')] }, { digests: [D('o1'), D('o2')], unless_stored_after_ms: day + 5_250 }]);
  // A tracker that sends no clock gets unconditional deletes, as before.
  m.trackerClock('A', undefined);
  m.blockReport('A', [{ digest: D('orphan2'), ageMs: 4_000 }], 7_000);
  t.deepEqual(deleteActions(7_000), [{ digests: [D('orphan2')] }]);
});

test('a write whose lease lapsed may not create its file, nor renew the lease again; one released is not brought back by a late renewal', (t) => {
  const c = new Cluster('A');
  const m = monitor(c, { writeLeaseMs: 1_000 }, 0, 0);
  t.true(m.leases.renew('w', 2_000, 2_000));
  t.true(m.leases.renew('w', 2_000, 2_900));
  t.true(m.leases.held('w', 3_900));
  // The client is cut off for over a lease: a block report then collects the put's blocks.
  m.blockReport('A', [{ digest: D('w-block'), ageMs: 1_500 }], 4_000);
  t.deepEqual(deletesIn(m.take('A', 4_000)), [D('w-block')]);
  t.false(m.leases.held('w', 4_000), 'its file is refused');
  t.false(m.leases.renew('w', 2_000, 4_100), 'a renewal once it is back does not revive it');
  t.false(m.leases.held('w', 4_100));
  // Even once forgotten (two leases on), a write begun a lease ago that is unknown is lost.
  t.false(m.leases.renew('w', 2_000, 9_000));
  t.false(m.leases.held('w', 9_000));
  // A released lease: a renewal in flight that arrives after does not re-create it.
  t.true(m.leases.renew('r', 9_000, 9_000));
  m.leases.release('r', 9_100);
  t.false(m.leases.renew('r', 9_000, 9_150));
  t.is(m.leases.writesBegunBy(10_000, 9_150), 0, 'it holds back nothing');
  // A new write is welcome, and holds its lease while it renews.
  t.true(m.leases.renew('n', 9_200, 9_200));
  t.true(m.leases.held('n', 10_100));
});

test('a put of bytes another file held, removed while the put ran: its block has no copy to believe, and the file is refused', (t) => {
  const c = new Cluster('A', 'B');
  const m = monitor(c, { writeLeaseMs: 1_000 }, 0, 0);
  m.track(D('x'), 10, 1, ['A'], 0); // file F's block, on A
  m.tick(1);
  t.true(m.leases.renew('w', 100, 100)); // a put of the same bytes begins, and stores x on A (A has it already)
  m.forget(D('x')); // F is removed: A is told to delete x, the put's copy with it
  deletesIn(m.take('A', 200));
  t.true(m.unbacked(D('x'), ['A'], 'w', 300));
  // A delete from before the put began took an older copy: the put's own is there.
  t.true(m.leases.renew('v', 250, 250));
  t.false(m.unbacked(D('x'), ['A'], 'v', 300));
  // Nor is a block unbacked that a tracker still lists, or that a claimed tracker was not told to drop.
  t.false(m.unbacked(D('x'), ['A', 'B'], 'w', 300));
  m.track(D('y'), 10, 1, ['B'], 300);
  t.false(m.unbacked(D('y'), ['A'], 'w', 300));
});

test('after a restart, the claims of a put begun before it are checked, not believed: the old job tracker may have deleted them', (t) => {
  const c = new Cluster('A', 'B');
  const m = monitor(c, { writeLeaseMs: 1_000 }, 0, 10_000);
  t.true(m.leases.renew('old', 9_000, 10_100));
  t.true(m.leases.renew('new', 10_200, 10_200));
  t.true(m.leases.begunBefore('old'));
  t.false(m.leases.begunBefore('new'));
  m.track(D('x'), 10, 1, ['A'], 10_300, m.leases.begunBefore('old'));
  t.false(m.isReplica('A', D('x')), 'not listed on its word');
  t.is(repairsIn(m.take('A', 10_300)).length, 1, 'A is asked to show it holds it');
  m.track(D('y'), 10, 1, ['B'], 10_300, m.leases.begunBefore('new'));
  t.true(m.isReplica('B', D('y')));
});

test('after a restart, a write not renewed yet may create its file while nothing can have been collected; then it is lost', (t) => {
  const c = new Cluster('A');
  const m = monitor(c, { writeLeaseMs: 1_000 }, 0, 10_000); // began at 10 s
  t.true(m.leases.held('old', 10_900), 'unknown, but no copy has been collected since the restart');
  t.false(m.leases.held('old', 11_000));
  t.true(m.leases.renew('early', 9_000, 10_200), 'a write begun before the restart renews within a lease of it');
  t.true(m.leases.held('early', 11_100));
  t.false(m.leases.renew('late', 9_000, 11_000), 'one that renews only a lease after the restart is lost');
});

test('a tracker reporting made-up blocks by the hundred thousand gets a bounded number of deletes queued; the rest wait for its next report', (t) => {
  const c = new Cluster('A');
  const m = monitor(c, { writeLeaseMs: 1_000 }, 0, 0);
  const fake = (i: number) => i.toString(16).padStart(64, '0');
  const report = Array.from({ length: 120_000 }, (_, i) => ({ digest: fake(i), ageMs: 5_000 }));
  m.blockReport('A', report, 10_000);
  m.blockReport('A', report, 10_001); // again: nothing more is queued
  let sent = 0;
  for (let n = deletesIn(m.take('A', 10_002)).length; n > 0; n = deletesIn(m.take('A', 10_002)).length) sent += n;
  t.is(sent, 50_000);
  // Its next report queues more of them.
  m.blockReport('A', report, 10_003);
  t.is(deletesIn(m.take('A', 10_004)).length, 1_000);
});

test('after a restart, and at registration, copies young enough to be a write\'s are kept', (t) => {
  const c = new Cluster('A');
  const m = monitor(c, { writeLeaseMs: 1_000 }, 0, 10_000); // began at 10 s: writers of before renew within a lease
  m.blockReport('A', [{ digest: D('x'), ageMs: 9_000 }], 10_500);
  t.deepEqual(deletesIn(m.take('A', 10_500)), []);
  m.blockReport('A', [{ digest: D('x'), ageMs: 9_000 }], 11_000);
  t.deepEqual(deletesIn(m.take('A', 11_000)), [D('x')]);
  m.leases.renew('w', 11_500, 11_500);
  m.trackerUp('A', [{ digest: D('y'), ageMs: 100 }, { digest: D('z'), ageMs: 5_000 }], 12_000);
  t.deepEqual(deletesIn(m.take('A', 12_000)), [D('z')]);
});

test('a tracker that restarts before it expires keeps the copies its block report confirms', (t) => {
  const c = new Cluster('A', 'B');
  const m = monitor(c);
  m.track(D('x'), 10, 2, ['A', 'B'], 0);
  m.track(D('y'), 10, 2, ['A', 'B'], 0);
  m.trackerDown('A', true);
  m.trackerUp('A', H(D('x')), 0);
  t.deepEqual(m.health(D('x'))!.live, ['A', 'B']);
  t.deepEqual(m.health(D('y'))!.live, ['B']);
  t.deepEqual(deletesIn(m.take('A', 1)), []);
});

test('after safe mode, a claim on a tracker that is already dead is not listed', (t) => {
  const c = new Cluster('A', 'B', 'C');
  const m = monitor(c);
  m.tick(1);
  c.up.delete('C');
  m.trackerDown('C');
  m.track(D('x'), 10, 3, ['A', 'B', 'C'], 2);
  t.deepEqual(m.health(D('x')), { live: ['A', 'B'], dead: [], bad: [], distrusted: [], repairing: 0, wanted: 3, state: 'UNDER_REPLICATED' });
});

test('a tracker lost for a while comes back with the last copy of a block: it is listed again, not deleted (sim seed 320)', (t) => {
  const c = new Cluster('A', 'B');
  const m = monitor(c);
  m.track(D('only'), 10, 1, ['A'], 0);
  m.track(D('spare'), 10, 1, ['B'], 0);
  c.up.delete('A');
  m.trackerDown('A');
  t.is(m.health(D('only'))!.state, 'MISSING');
  c.up.add('A');
  m.trackerUp('A', H(D('only'), D('spare')), 5);
  const out = m.take('A', 5);
  // The copy a file is short of is confirmed by a repair that succeeds at once; one no file is short of goes.
  t.deepEqual(deletesIn(out), [D('spare')]);
  const [r] = repairsIn(out);
  t.is(r?.digest, D('only'));
  t.deepEqual(r?.sources, []);
  m.repairResult('A', { repair_id: r!.repair_id, digest: D('only'), ok: true, error: '', bad_sources: [] }, 6);
  t.deepEqual(m.health(D('only'))!.live, ['A']);
  t.is(m.health(D('only'))!.state, 'HEALTHY');
});

test('a tracker proven to hold a block bad is not given it again, even after the block had all its copies (sim seed 3354989473)', (t) => {
  const c = new Cluster('A', 'B', 'C');
  const m = monitor(c);
  m.track(D('x'), 10, 2, ['A', 'B'], 0);
  m.proveBad('A', D('x'));
  m.tick(1);
  const [r] = repairsIn(m.take('C', 1));
  m.repairResult('C', { repair_id: r!.repair_id, digest: D('x'), ok: true, error: '', bad_sources: [] }, 2);
  m.tick(3);
  t.is(m.health(D('x'))!.state, 'HEALTHY', 'fsck no longer calls it corrupt');
  // The copy on B goes: the one tracker left without a copy is A, which is not asked.
  c.up.delete('B');
  m.trackerDown('B');
  m.tick(4);
  t.deepEqual([...takeAll(m, ['A', 'C'], 4).values()].flatMap(repairsIn), []);
  t.is(m.health(D('x'))!.state, 'UNDER_REPLICATED');
  t.deepEqual(m.health(D('x'))!.distrusted, ['A']);
});

test('a block being copied to a tracker is not deleted there by its block report', (t) => {
  const c = new Cluster('A', 'B');
  const m = monitor(c);
  m.track(D('x'), 10, 2, ['A'], 0);
  m.tick(1);
  t.is(repairsIn(m.take('B', 1)).length, 1);
  m.trackerUp('B', H(D('x')), 0);
  t.deepEqual(deletesIn(m.take('B', 2)), []);
});

test('safe mode after a restart: no repairs until trackers had time to come back; then the absent ones are lost', (t) => {
  const c = new Cluster('A', 'B');
  const m = monitor(c, {}, 1_000);
  m.track(D('x'), 10, 3, ['A', 'B', 'Z'], 0); // Z was a tracker before the restart
  c.up.add('C');
  m.tick(500);
  t.deepEqual(m.take('C', 500), []);
  t.is(m.health(D('x'))!.state, 'UNDER_REPLICATED');
  t.deepEqual(m.health(D('x'))!.dead, ['Z']);
  m.takeChanged();
  m.tick(1_001);
  t.deepEqual(m.takeChanged(), [{ digest: D('x'), replicas: ['A', 'B'] }]);
  t.is(repairsIn(m.take('C', 1_001)).length, 1);
});

test('fsck\'s states as HDFS names them: CORRUPT when every copy was proven bad, MISSING when none can be read', (t) => {
  const c = new Cluster('A', 'B', 'C');
  const m = monitor(c);
  m.track(D('bad'), 10, 2, ['A', 'B'], 0);
  m.proveBad('A', D('bad'));
  t.is(m.health(D('bad'))!.state, 'UNDER_REPLICATED', 'B still holds a good copy');
  m.proveBad('B', D('bad'));
  t.like(m.health(D('bad')), { state: 'CORRUPT', live: [], bad: ['A', 'B'] });
  m.track(D('gone'), 10, 2, ['A', 'C'], 0);
  c.up.delete('A');
  m.trackerDown('A');
  t.is(m.health(D('gone'))!.state, 'UNDER_REPLICATED');
  c.up.delete('C');
  t.like(m.health(D('gone')), { state: 'MISSING', live: [] }, 'a dead tracker\'s disk may still hold it');
});

test('a replica proven bad goes, the block is under-replicated (not corrupt: a good copy is left) until it has all its copies again, and the bad tracker is not a target', (t) => {
  const c = new Cluster('A', 'B', 'C');
  const m = monitor(c);
  m.track(D('x'), 10, 2, ['A', 'B'], 0);
  m.proveBad('B', D('x'));
  t.is(m.health(D('x'))!.state, 'UNDER_REPLICATED');
  t.deepEqual(m.health(D('x'))!.bad, ['B']);
  t.deepEqual(deletesIn(m.take('B', 1)), [D('x')]);
  m.tick(2);
  t.deepEqual(m.take('B', 2), []);
  const r = repairsIn(m.take('C', 2))[0]!;
  t.deepEqual(r.sources.map((s) => s.tracker_id), ['A']);
  m.repairResult('C', { repair_id: r.repair_id, digest: r.digest, ok: true, error: '', bad_sources: [] }, 3);
  m.tick(4);
  t.is(m.health(D('x'))!.state, 'HEALTHY');
  t.deepEqual(m.health(D('x'))!.bad, []);
});

test('a tracker proven to hold a block bad is not listed again by a later file of the same bytes whose writer checked it before the proof (sim seed 9118435)', (t) => {
  const c = new Cluster('A', 'B', 'C');
  const m = monitor(c);
  m.track(D('x'), 10, 2, ['A', 'B'], 0);
  m.proveBad('B', D('x'));
  t.deepEqual(deletesIn(m.take('B', 1)), [D('x')]);
  m.repliesAcknowledged('B'); // the delete ran
  // A put of the same bytes, whose client checked B (a node serving other bytes than it holds passes that) before the proof.
  m.track(D('x'), 10, 2, ['A', 'B'], 2);
  t.false(m.isReplica('B', D('x')), 'not listed on the writer\'s word');
  m.tick(3);
  t.deepEqual(repairsIn(m.take('B', 3)), [], 'nor given a fresh copy to check');
  t.is(repairsIn(m.take('C', 3)).length, 1, 'the copy goes elsewhere');
});

test('a proven-bad copy\'s delete still goes when a later file names its tracker; the distrust outlives the block\'s last file; a put whose only holder is distrusted is refused', (t) => {
  const c = new Cluster('A', 'B', 'C');
  const m = monitor(c);
  m.track(D('x'), 10, 2, ['A', 'B'], 0);
  m.proveBad('B', D('x'));
  m.track(D('x'), 10, 2, ['A', 'B'], 1); // before B's delete went out
  t.deepEqual(deletesIn(m.take('B', 2)), [D('x')], 'the bad copy still goes');
  m.repliesAcknowledged('B');
  // No file refers to it any more, then one of the same bytes does, naming B again.
  m.forget(D('x'));
  m.track(D('x'), 10, 2, ['A', 'B'], 3);
  t.false(m.isReplica('B', D('x')), 'still not believed');
  // Its only claimed holder distrusted, a new file of those bytes is refused (the writer tries again), not created without a copy.
  m.track(D('z'), 10, 1, ['B'], 4);
  m.proveBad('B', D('z'));
  t.true(m.unbacked(D('z'), ['B'], undefined, 5));
  m.forget(D('z'));
  t.true(m.unbacked(D('z'), ['B'], undefined, 6), 'nor once no file refers to it');
});

test('decommissioning: a leaving tracker\'s copies do not count but serve as the source of new ones; it may stop once none is short', (t) => {
  const c = new Cluster('A', 'B', 'C', 'D');
  const m = monitor(c);
  m.track(D('x'), 10, 2, ['A', 'B'], 0);
  m.track(D('only'), 10, 1, ['A'], 0);
  m.takeChanged();
  t.is(m.shortWithout('A'), 2);
  c.leaving.add('A');
  m.touchTracker('A');
  t.is(m.health(D('only'))!.state, 'UNDER_REPLICATED', 'its copy is still there to copy from');
  m.tick(1);
  const out = takeAll(m, ['A', 'B', 'C', 'D'], 1);
  t.deepEqual(repairsIn(out.get('A')!), [], 'it receives no copies');
  const repairs = [...out.entries()].flatMap(([id, a]) => repairsIn(a).map((r) => ({ id, r })));
  t.is(repairs.length, 2);
  const only = repairs.find((x) => x.r.digest === D('only'))!;
  t.deepEqual(only.r.sources.map((s) => s.tracker_id), ['A']);
  for (const { id, r } of repairs) m.repairResult(id, { repair_id: r.repair_id, digest: r.digest, ok: true, error: '', bad_sources: [] }, 2);
  t.is(m.shortWithout('A'), 0);
  t.deepEqual(m.health(D('only'))!.live.length, 1);
  t.true(m.isReplica('A', D('only')), 'its copy stays listed until it goes');
  t.is(m.wantMoreThanOthers('A'), 0);
  // A block that wants a copy on every tracker cannot do without A's: A can never leave.
  m.track(D('everywhere'), 10, 4, ['A', 'B', 'C', 'D'], 3);
  t.is(m.wantMoreThanOthers('A'), 1);
  t.is(m.shortWithout('A'), 1);
});

test('core: a tracker being decommissioned may not stop while a write begun before may have put blocks there, or a running job uses it', (t) => {
  const { core: c, ids } = core();
  const [a] = ids as [string];
  // Until a lease has passed since the core started, a write begun before may not have renewed here yet (sim seed 112773).
  const lease = kReplicationDefaults.writeLeaseMs;
  c.decommission(a, true, 10);
  t.is(c.decommissionLeft(a, lease - 1), 1);
  t.is(c.decommissionLeft(a, lease), 0);
  c.decommission(a, false, lease);
  const t0 = lease + 100;
  c.renewWriteLease('early', 10, t0 + 5);
  c.decommission(a, true, t0 + 10);
  c.renewWriteLease('late', 0, t0 + 20); // begun after: AllocateBlock sent it elsewhere
  t.is(c.decommissionLeft(a, t0 + 20), 1);
  c.releaseWriteLease('early', t0 + 20);
  t.is(c.decommissionLeft(a, t0 + 20), 0);
  t.like(c.status(t0 + 20, 'jt:1', 1).trackers.find((i) => i.tracker_id === a), { decommissioning: true, decommission_left: 0 });
  c.decommission(a, false, t0 + 30);
  t.like(c.status(t0 + 30, 'jt:1', 1).trackers.find((i) => i.tracker_id === a), { decommissioning: false });
  t.throws(() => c.decommission('nobody', true, t0 + 40), { message: 'no task tracker nobody' });
  t.throws(() => c.decommission('nobody', false, t0 + 40), { message: 'no task tracker nobody' });
});

test('core: a dead tracker being decommissioned may not be wiped while a block is missing: its disk may hold the only copy', (t) => {
  const { core: c, ids } = core();
  const [a, b, cc, d] = ids as [string, string, string, string];
  const now = kReplicationDefaults.writeLeaseMs + 1;
  for (const id of ids) heartbeat(c, id, now);
  c.trackBlock(sha256('only-on-a'), 10, 1, [a], now);
  c.trackBlock(sha256('everywhere'), 10, 3, [b, cc, d], now);
  // a dies: its copy is no longer listed, and the block is missing.
  for (const id of [b, cc, d]) heartbeat(c, id, now + OPTS.trackerExpiryMs + 1);
  c.tick(now + OPTS.trackerExpiryMs + 1);
  const later = now + OPTS.trackerExpiryMs + 2;
  c.decommission(a, true, later);
  t.is(c.decommissionLeft(a, later), 1);
  // It comes back with its copy: the block is there again, and once copied elsewhere a may go.
  c.register({ tracker_id: a, address: 'h0:1', pid: 9, slots: 1, fault: '', blocks: [{ digest: sha256('only-on-a') }] }, later + 1);
  t.is(c.decommissionLeft(a, later + 1), 1, 'alive and holding the only copy: short elsewhere');
});

/**
 * Runs a monitor the way trackers and the job tracker would: every requested pull succeeds (or
 * fails, for the targets in `failing`), every move's new copy is checked (and found held, but on
 * the targets in `silent`, which do not answer), every delete is carried out; after each step, no
 * block has fewer listed copies than it had. Returns the deletes, per tracker.
 */
function settle(t: ExecutionContext, m: ReplicationMonitor, ids: string[], digests: string[], from: number, failing = new Set<string>(),
  silent = new Set<string>()): { now: number; deleted: Map<string, string[]> } {
  const deleted = new Map<string, string[]>();
  let now = from;
  const copies = () => digests.map((d) => m.health(d)!.live.length);
  for (let step = 0; step < 100; step++) {
    const before = copies();
    m.tick(++now);
    let acted = false;
    for (const [id, actions] of takeAll(m, ids, now)) {
      for (const r of repairsIn(actions)) {
        acted = true;
        m.repairResult(id, { repair_id: r.repair_id, digest: r.digest, ok: !failing.has(id), error: failing.has(id) ? 'no' : '', bad_sources: [] }, now);
        for (const a of m.takeMoveAudits()) m.moveChecked(a.trackerId, a.digest, !silent.has(a.trackerId), now);
      }
      for (const d of deletesIn(actions)) {
        acted = true;
        deleted.set(id, [...(deleted.get(id) ?? []), d]);
        t.false(m.isReplica(id, d), 'a copy is unlisted before it is deleted');
      }
    }
    copies().forEach((n, i) => t.true(n >= Math.min(before[i]!, m.health(digests[i]!)!.wanted), `block ${i} lost a copy in a move`));
    if (!acted && !m.balanceStatus().active) break;
  }
  return { now, deleted };
}

test('balancing (HDFS\'s balancer) moves copies from a full tracker to empty ones, each made before the full one\'s goes', (t) => {
  const c = new Cluster('A', 'B', 'C', 'D');
  const m = monitor(c);
  const digests = Array.from({ length: 8 }, (_, i) => D(`b${i}`));
  for (const d of digests.slice(0, 4)) m.track(d, 10, 1, ['A'], 0);
  for (const d of digests.slice(4)) m.track(d, 10, 2, ['A', 'B'], 0);
  // A 80, B 40, C and D 0: 120 bytes, 30 each would be even.
  t.like(m.balanceStatus(), { active: false, outcome: '', spreadBytes: 80, trackers: 4 });
  m.balance(true, 10, 0);
  t.like(m.balanceStatus(), { active: true, thresholdPercent: 10, allowedBytes: 3 });
  const { deleted } = settle(t, m, ['A', 'B', 'C', 'D'], digests, 0);
  t.like(m.balanceStatus(), { active: false, outcome: 'balanced', spreadBytes: 0, moving: 0, movedBlocks: 6, movedBytes: 60 });
  t.deepEqual(['A', 'B', 'C', 'D'].map((id) => m.holdings(id).bytes), [30, 30, 30, 30]);
  t.deepEqual([...deleted.keys()].sort(), ['A', 'B'], 'only the fuller trackers gave up copies');
  t.deepEqual(digests.map((d) => m.health(d)!.live.length), [1, 1, 1, 1, 2, 2, 2, 2]);
  t.true(digests.every((d) => m.health(d)!.state === 'HEALTHY'));
});

test('balancing ends when no move would bring the fullest and emptiest closer; a failed pull keeps the source copy', (t) => {
  const c = new Cluster('A', 'B', 'C');
  const m = monitor(c);
  m.track(D('big'), 100, 1, ['A'], 0);
  m.track(D('small'), 10, 1, ['B'], 0);
  m.balance(true, 10, 0);
  // Moving "big" anywhere only moves the gap: nothing to do.
  settle(t, m, ['A', 'B', 'C'], [D('big'), D('small')], 0);
  t.like(m.balanceStatus(), { active: false, movedBlocks: 0, outcome: 'as balanced as its blocks allow: no move would bring the fullest and emptiest trackers closer' });

  const c2 = new Cluster('A', 'B');
  const m2 = monitor(c2);
  m2.track(D('x'), 10, 1, ['A'], 0);
  m2.track(D('y'), 10, 1, ['A'], 0);
  m2.balance(true, 0, 0);
  const { now } = settle(t, m2, ['A', 'B'], [D('x'), D('y')], 0, new Set(['B']));
  t.true(m2.isReplica('A', D('x')) && m2.isReplica('A', D('y')), 'a failed move deletes nothing');
  t.like(m2.balanceStatus(), { active: false, movedBlocks: 0, failedMoves: 1, outcome: 'stuck: 1 move failed (the pull, or the check of the new copy); try again later' });
  // Run again once the failures are old news: tried again, and done.
  m2.balance(true, 0, 0);
  settle(t, m2, ['A', 'B'], [D('x'), D('y')], now + kReplicationDefaults.repairTimeoutMs + 1);
  t.like(m2.balanceStatus(), { active: false, outcome: 'balanced', movedBlocks: 1, failedMoves: 0 });
});

test('balancing waits while repairs keep the targets busy, instead of ending; blocks running jobs read are not moved', (t) => {
  const c = new Cluster('A', 'B', 'C', 'D');
  const m = monitor(c);
  const short = Array.from({ length: 20 }, (_, i) => D(`short${i}`));
  const full = Array.from({ length: 20 }, (_, i) => D(`full${i}`));
  for (const d of short) m.track(d, 10, 2, ['A'], 0); // each wants a second copy: repairs fill every target
  for (const d of full) m.track(d, 10, 1, ['A'], 0);
  c.read.add(full[0]!);
  m.balance(true, 10, 0);
  m.tick(1);
  t.like(m.balanceStatus(), { active: true, outcome: '' }, 'busy targets are no reason to stop');
  settle(t, m, ['A', 'B', 'C', 'D'], [...short, ...full], 1);
  t.like(m.balanceStatus(), { active: false });
  t.regex(m.balanceStatus().outcome, /^(balanced|as balanced as its blocks allow)/);
  t.true(m.isReplica('A', full[0]!) && m.health(full[0]!)!.live.length === 1, 'the block a job reads stayed where it was');
  const bytes = ['A', 'B', 'C', 'D'].map((id) => m.holdings(id).bytes);
  t.true(Math.max(...bytes) - Math.min(...bytes) <= 20, bytes.join(' '));
});

test('balancing: a move\'s new copy that cannot be checked goes, not the old one; one proven bad is no replica (a target\'s word deletes nothing)', (t) => {
  const c = new Cluster('A', 'B');
  const m = monitor(c);
  m.track(D('x'), 10, 1, ['A'], 0);
  m.track(D('y'), 10, 1, ['A'], 0);
  m.balance(true, 0, 0);
  const { deleted } = settle(t, m, ['A', 'B'], [D('x'), D('y')], 0, new Set(), new Set(['B']));
  t.true(m.isReplica('A', D('x')) && m.isReplica('A', D('y')), 'A keeps both');
  t.false(deleted.has('A'));
  t.deepEqual(deleted.get('B'), [D('x')], 'the unchecked copy went');
  t.like(m.balanceStatus(), { active: false, movedBlocks: 0, failedMoves: 1 });
  // Proven bad (the core's audit): the copy is no replica, and the old one stays.
  m.balance(true, 0, 0);
  m.tick(kReplicationDefaults.repairTimeoutMs + 10);
  const [move] = repairsIn(m.take('B', kReplicationDefaults.repairTimeoutMs + 10));
  t.truthy(move);
  m.repairResult('B', { repair_id: move!.repair_id, digest: move!.digest, ok: true, error: '', bad_sources: [] }, kReplicationDefaults.repairTimeoutMs + 11);
  t.deepEqual(m.takeMoveAudits(), [{ trackerId: 'B', digest: move!.digest }]);
  m.proveBad('B', move!.digest);
  m.tick(kReplicationDefaults.repairTimeoutMs + 12);
  t.true(m.isReplica('A', move!.digest));
  t.deepEqual(deletesIn(m.take('A', kReplicationDefaults.repairTimeoutMs + 12)), []);
});

test('balancing: a copy lost while a move is under way is made up by the move, nothing trimmed; the operator can stop a run', (t) => {
  const c = new Cluster('A', 'B', 'C');
  const m = monitor(c);
  m.track(D('x'), 10, 2, ['A', 'B'], 0);
  m.track(D('y'), 10, 1, ['A'], 0);
  m.track(D('z'), 10, 1, ['A'], 0);
  m.balance(true, 0, 0);
  m.tick(1);
  const moves = [...takeAll(m, ['A', 'B', 'C'], 1)].flatMap(([id, a]) => repairsIn(a).map((r) => ({ id, r })));
  t.true(moves.length > 0);
  t.true(moves.every(({ id, r }) => id !== 'A' && r.sources[0]!.tracker_id === 'A'), 'it pulls from the copy it replaces');
  const x = moves.find(({ r }) => r.digest === D('x'));
  t.truthy(x, 'x is among the moves (the seeded random picks it)');
  {
    // B, the other holder of x, is lost before the move to C is done: C's copy replaces B's, and A keeps its.
    c.up.delete('B');
    m.trackerDown('B');
  }
  for (const { id, r } of moves) m.repairResult(id, { repair_id: r.repair_id, digest: r.digest, ok: true, error: '', bad_sources: [] }, 2);
  // The job tracker checks each new copy before the old one goes: nothing is trimmed meanwhile.
  const checks = m.takeMoveAudits();
  t.deepEqual(checks.map((a) => a.trackerId).sort(), moves.map((x) => x.id).sort());
  m.tick(2);
  t.deepEqual(deletesIn(m.take('A', 2)), [], 'no copy goes before the new one is checked');
  for (const a of checks) m.moveChecked(a.trackerId, a.digest, true, 2);
  m.balance(false, 0, 0);
  t.like(m.balanceStatus(), { active: false, outcome: 'stopped', movedBlocks: moves.length });
  m.tick(3);
  const after = takeAll(m, ['A', 'C'], 3);
  t.true(m.isReplica('A', D('x')) && m.health(D('x'))!.live.length === 2, 'x keeps both copies');
  t.deepEqual([...after.values()].flatMap(repairsIn), [], 'no new moves once stopped');
  t.is(deletesIn(after.get('A')!).length, moves.length - 1, 'the other moved copies go from A');
});

test('copies on a blacklisted tracker do not count', (t) => {
  const c = new Cluster('A', 'B', 'C');
  const m = monitor(c);
  m.track(D('x'), 10, 2, ['A', 'B'], 0);
  m.tick(1);
  t.deepEqual(m.take('C', 1), []);
  c.blacklisted.add('B');
  m.touchTracker('B');
  t.deepEqual(m.health(D('x'))!.dead, ['B']);
  m.tick(2);
  t.is(repairsIn(m.take('C', 2)).length, 1);
});

test('a block whose only copies are on blacklisted trackers is copied from them (the puller verifies it): under-replicated, not missing, while one is up', (t) => {
  const c = new Cluster('A', 'B', 'C', 'D');
  const m = monitor(c);
  m.track(D('x'), 10, 2, ['A', 'B'], 0);
  m.track(D('y'), 10, 2, ['A', 'C'], 0);
  c.blacklisted.add('A');
  c.blacklisted.add('B');
  m.touchTracker('A');
  m.touchTracker('B');
  t.like(m.health(D('x')), { state: 'UNDER_REPLICATED', live: [], dead: ['A', 'B'] });
  t.is(m.missingBlocks(), 0);
  m.tick(1);
  const repairs = [...takeAll(m, ['C', 'D'], 1).values()].flatMap(repairsIn);
  const ofX = repairs.filter((r) => r.digest === D('x'));
  t.is(ofX.length, 2, 'both copies are made again');
  t.true(ofX.every((r) => r.sources.map((l) => l.tracker_id).sort().join() === 'A,B'), 'from the blacklisted holders');
  // y has a copy on a trusted tracker: only that one is a source.
  t.true(repairs.filter((r) => r.digest === D('y')).every((r) => r.sources.map((l) => l.tracker_id).join() === 'C'));
  // Once no holder is up, nothing can be read or copied: missing.
  c.up.delete('A');
  c.up.delete('B');
  m.touchTracker('A');
  m.touchTracker('B');
  t.like(m.health(D('x')), { state: 'MISSING' });
});

test('routine audits pick a replica on a usable tracker, one per interval', (t) => {
  const c = new Cluster('A', 'B', 'C');
  const m = monitor(c, { auditIntervalMs: 100 });
  t.is(m.tick(0), undefined, 'nothing to audit yet');
  m.track(D('x'), 10, 2, ['A', 'B'], 0);
  m.track(D('y'), 10, 1, ['C'], 0);
  const first = m.tick(200);
  t.truthy(first);
  t.true(m.isReplica(first!.trackerId, first!.digest));
  t.is(m.tick(250), undefined);
  const seen = new Set<string>();
  for (let now = 300; now < 30_000; now += 100) {
    const a = m.tick(now)!;
    t.true(m.isReplica(a.trackerId, a.digest));
    seen.add(`${a.trackerId}|${a.digest.slice(0, 4)}`);
  }
  t.is(seen.size, 3, 'every replica is audited in time');
});

// ---------------------------------------------------------------- through the core

const OPTS = { heartbeatIntervalMs: 100, trackerExpiryMs: 1_000, blacklistAfterVerdicts: 2, dfsAuditIntervalMs: 0 };

function core(): { core: JobTrackerCore; ids: string[]; effects: Effect[]; take: () => Effect[] } {
  const c = new JobTrackerCore(OPTS, seeded(3), 0);
  const ids = ['h0', 'h1', 'h2', 'h3'].map((h, i) => c.register({ tracker_id: '', address: `${h}:1`, pid: i, slots: 1, fault: '', blocks: [] }, 0));
  const effects: Effect[] = [];
  return { core: c, ids, effects, take: () => { const e = c.takeEffects(); effects.push(...e); return e; } };
}

const heartbeat = (c: JobTrackerCore, id: string, now: number, extra: object = {}) =>
  c.heartbeat({ tracker_id: id, free_slots: 0, reports: [], running: [], ...extra }, now);

/** Every tracker heartbeats, then time passes past the safe mode that follows the core's start. */
function pastSafeMode(c: JobTrackerCore, ids: string[]): number {
  const now = OPTS.trackerExpiryMs + 1;
  for (const id of ids) heartbeat(c, id, now);
  c.tick(now);
  return now;
}

test('core: a reader\'s report leads to an audit, and only the audit\'s own finding to a verdict and a repair', (t) => {
  const { core: c, ids, take } = core();
  const [a, b, x, y] = ids as [string, string, string, string];
  c.trackBlock(D('blk'), 10, 2, [a, b], 0);
  take();
  c.reportBadReplica(x, D('blk'), 'a reader', 0);
  t.deepEqual(take().filter((e) => e.type === 'audit'), [], 'a tracker that holds no replica is not audited');
  c.reportBadReplica(a, D('blk'), 'a reader', 0);
  c.reportBadReplica(a, D('blk'), 'another reader', 0);
  const audits = take().filter((e): e is Extract<Effect, { type: 'audit' }> => e.type === 'audit');
  t.is(audits.length, 1, 'one audit at a time per replica');
  t.like(audits[0], { jobId: '', trackerId: a, digest: D('blk') });
  // The bytes matched: the reader was wrong or lying; nothing happens.
  c.auditResult(audits[0]!, true, 10);
  t.deepEqual(c.trackers(10).find((i) => i.tracker_id === a)!.verdicts, []);
  t.is(c.blockHealth(D('blk'))!.state, 'HEALTHY');
  // Accused again, and this time the job tracker sees other bytes.
  c.reportBadReplica(a, D('blk'), 'a reader', 0);
  const again = take().find((e): e is Extract<Effect, { type: 'audit' }> => e.type === 'audit')!;
  c.auditResult(again, false, 20);
  const verdicts = c.trackers(20).find((i) => i.tracker_id === a)!.verdicts;
  t.is(verdicts.length, 1);
  t.regex(verdicts[0]!, new RegExp(`served bytes of block ${D('blk').slice(0, 12)} that do not match its digest`));
  t.is(c.blockHealth(D('blk'))!.state, 'UNDER_REPLICATED');
  t.like(take().find((e) => e.type === 'replicas'), { changes: [{ digest: D('blk'), replicas: [b] }] });
  t.deepEqual(deletesIn(heartbeat(c, a, 20).actions), [D('blk')], 'the bad copy is deleted');
  const now = pastSafeMode(c, ids);
  const repairs = [x, y].flatMap((id) => repairsIn(heartbeat(c, id, now).actions));
  t.is(repairs.length, 1);
  t.deepEqual(repairs[0]!.sources.map((s) => s.tracker_id), [b]);
  t.false(repairs.some((r) => r.sources.some((s) => s.tracker_id === a)), 'the proven-bad tracker is no source');
});

test('core: a reader\'s report that comes while a routine audit of that copy is under way is checked when it ends', (t) => {
  // A routine audit asks for a proof under a challenge, which a node that holds the right bytes
  // but serves readers other bytes passes: the reader's report must not be lost meanwhile.
  const c = new JobTrackerCore({ ...OPTS, dfsAuditIntervalMs: 100 }, seeded(3), 0);
  const ids = ['h0', 'h1', 'h2'].map((h, i) => c.register({ tracker_id: '', address: `${h}:1`, pid: i, slots: 1, fault: '', blocks: [] }, 0));
  const audits = () => c.takeEffects().filter((e): e is Extract<Effect, { type: 'audit' }> => e.type === 'audit');
  c.trackBlock(D('blk'), 10, 2, [ids[0]!, ids[1]!], 0);
  let routine: Extract<Effect, { type: 'audit' }> | undefined;
  for (let now = pastSafeMode(c, ids); !routine && now < 60_000; now += 100) {
    for (const id of ids) heartbeat(c, id, now);
    c.tick(now);
    routine = audits()[0];
  }
  t.like(routine, { routine: true, digest: D('blk') });
  const accused = routine!.trackerId;
  c.reportBadReplica(accused, D('blk'), 'a reader', 60_000);
  t.deepEqual(audits(), [], 'one audit at a time per replica');
  c.auditResult(routine!, true, 70_000);
  const followUp = audits();
  t.is(followUp.length, 1, 'the report is checked once the routine audit is over');
  t.like(followUp[0], { trackerId: accused, digest: D('blk'), task: 'reported by a reader' });
  t.falsy(followUp[0]!.routine, 'fetched as readers fetch, not answered with a proof');
  c.auditResult(followUp[0]!, false, 70_010);
  t.is(c.trackers(70_010).find((i) => i.tracker_id === accused)!.verdicts.length, 1);
  t.false(c.blockHealth(D('blk'))!.live.includes(accused));
});

test('core: a reader\'s report against a tracker not registered yet (the job tracker restarted) is audited once it registers, unless it stays away past its expiry', (t) => {
  // A node that holds the right bytes but serves readers others passes routine audits: a report
  // dropped because it came before the node registered again would never be made good.
  const c = new JobTrackerCore(OPTS, seeded(5), 0);
  const audits = () => c.takeEffects().filter((e): e is Extract<Effect, { type: 'audit' }> => e.type === 'audit');
  c.trackBlock(D('blk'), 10, 2, ['ta', 'tb'], 0); // as the restart restores it, from the namespace
  c.reportBadReplica('ta', D('blk'), 'a reader', 10);
  c.reportBadReplica('tb', D('blk'), 'a reader', 10);
  t.deepEqual(audits(), [], 'no tracker to ask yet');
  const join = (id: string, now: number) => c.register({ tracker_id: id, address: `${id}:1`, pid: 1, slots: 1, fault: '', blocks: [{ digest: D('blk') }] }, now);
  join('ta', 200);
  const [audit, ...more] = audits();
  t.like(audit, { jobId: '', trackerId: 'ta', digest: D('blk'), task: 'reported by a reader' });
  t.deepEqual(more, []);
  c.auditResult(audit!, false, 210);
  t.is(c.trackers(210).find((i) => i.tracker_id === 'ta')!.verdicts.length, 1, 'the audit\'s own finding is the verdict');
  // tb stays away longer than a tracker may be silent: the report is dropped.
  c.tick(10 + c.expiryMs() + 1);
  join('tb', 10 + c.expiryMs() + 2);
  t.deepEqual(audits(), []);
});

test('core: no copy of a block is made on a tracker until it has acknowledged the reply that told it to delete its copy', (t) => {
  // That reply's actions go out again until it is acknowledged: a delete run after a new copy was
  // made (or after a pull found the old copy still there) would take the copy the core counts.
  const { core: c, ids } = core();
  const [a, b, x, y] = ids as [string, string, string, string];
  c.trackBlock(D('blk'), 10, 4, [a, b, x, y], 0);
  let now = pastSafeMode(c, ids);
  const told = heartbeat(c, x, now, { bad_blocks: [D('blk')] });
  t.deepEqual(deletesIn(told.actions), [D('blk')], 'its own scrubber found its copy bad: it goes');
  t.is(c.blockHealth(D('blk'))!.live.length, 3);
  // x is the only tracker without a copy, but its reply was lost: it asks again without acknowledging it.
  for (let i = 0; i < 3; i++) {
    c.tick(++now);
    const again = heartbeat(c, x, ++now, { last_response_id: 0 });
    t.deepEqual(deletesIn(again.actions), [D('blk')], 'the reply\'s delete goes out again');
    t.deepEqual(repairsIn(again.actions), [], 'and no copy is asked of x meanwhile');
  }
  let last = heartbeat(c, x, ++now, { last_response_id: 0 });
  // Acknowledged: the delete has run there; now x may take a new copy.
  last = heartbeat(c, x, ++now, { last_response_id: last.response_id });
  c.tick(++now);
  const after = heartbeat(c, x, ++now, { last_response_id: last.response_id });
  t.deepEqual(repairsIn(after.actions).map((r) => r.digest), [D('blk')]);
  t.deepEqual(deletesIn(after.actions), []);
});

test('core: a verdict goes out as an effect to keep; a restarted core given them trusts that tracker no more', (t) => {
  const { core: c, ids, take } = core();
  const [a, b] = ids as [string, string];
  c.trackBlock(D('blk'), 10, 2, [a, b], 0);
  take();
  c.reportBadReplica(a, D('blk'), 'a reader', 0);
  c.auditResult(take().find((e): e is Extract<Effect, { type: 'audit' }> => e.type === 'audit')!, false, 10);
  const kept = take().filter((e): e is Extract<Effect, { type: 'verdict' }> => e.type === 'verdict');
  t.is(kept.length, 1);
  t.is(kept[0]!.trackerId, a);
  const restarted = new JobTrackerCore({ ...OPTS, blacklistAfterVerdicts: 0 }, seeded(4), 100);
  restarted.restoreVerdicts(new Map([[a, [kept[0]!.reason]]]));
  for (const id of [a, b]) restarted.register({ tracker_id: id, address: `${id}:1`, pid: 1, slots: 1, fault: '', blocks: [] }, 100);
  const info = new Map(restarted.trackers(100).map((i) => [i.tracker_id, i]));
  t.deepEqual(info.get(a)!.verdicts, [kept[0]!.reason]);
  t.true(info.get(a)!.blacklisted);
  t.false(info.get(b)!.blacklisted);
});

test('core: a writer\'s report of a copy no file lists is checked: deleted if bad, kept if good, never a verdict', (t) => {
  const { core: c, ids, take } = core();
  const [a, b, x, y] = ids as [string, string, string, string];
  c.trackBlock(D('blk'), 10, 2, [a, b], 0);
  take();
  c.reportBadReplica(a, D('blk'), 'a writer of /f', 0, true);
  const listed = take().filter((e): e is Extract<Effect, { type: 'audit' }> => e.type === 'audit');
  t.false(listed[0]?.unlisted ?? false, 'a listed replica is audited like any accused one');
  c.auditResult(listed[0]!, true, 1);
  for (const [id, matched] of [[x, false], [y, true]] as const) {
    c.reportBadReplica(id, D('new'), 'a writer of /f', 0, true);
    const [audit] = take().filter((e): e is Extract<Effect, { type: 'audit' }> => e.type === 'audit');
    t.like(audit, { jobId: '', trackerId: id, digest: D('new'), unlisted: true });
    c.auditResult(audit!, matched, 10);
  }
  t.deepEqual(deletesIn(heartbeat(c, x, 20).actions), [D('new')], 'the bad copy goes');
  t.deepEqual(deletesIn(heartbeat(c, y, 20).actions), [], 'a good copy stays (a concurrent put may list it)');
  for (const id of ids) t.deepEqual(c.trackers(20).find((i) => i.tracker_id === id)!.verdicts, []);
});

test('core: a tracker that says it does not hold a block it claimed gets a verdict; one that does not answer does not', (t) => {
  const { core: c, ids, take } = core();
  const [a, b] = ids as [string, string];
  c.trackBlock(D('blk'), 10, 2, [a, b], 0);
  c.reportBadReplica(b, D('blk'), 'a reader', 0);
  const silent = take().find((e): e is Extract<Effect, { type: 'audit' }> => e.type === 'audit')!;
  c.auditResult(silent, true, 5); // unreachable: no proof
  t.deepEqual(c.trackers(5).find((i) => i.tracker_id === b)!.verdicts, []);
  t.true(c.blockHealth(D('blk'))!.live.includes(b));
  c.reportBadReplica(a, D('blk'), 'a reader', 0);
  const audit = take().find((e): e is Extract<Effect, { type: 'audit' }> => e.type === 'audit')!;
  c.auditResult(audit, true, 10, false);
  t.regex(c.trackers(10).find((i) => i.tracker_id === a)!.verdicts[0]!, /lost block .* it claimed/);
  t.deepEqual(c.blockHealth(D('blk'))!.live, [b]);
});

test('core: a repairing tracker\'s accusation of its source is audited, never a verdict by itself', (t) => {
  const { core: c, ids, take } = core();
  const [a, b, x] = ids as [string, string, string];
  c.trackBlock(D('blk'), 10, 3, [a, b], 0);
  const now = pastSafeMode(c, ids);
  let repair: ReplicateBlock | undefined;
  let target = '';
  for (const id of ids.slice(2)) {
    const r = repairsIn(heartbeat(c, id, now).actions)[0];
    if (r) { repair = r; target = id; }
  }
  t.truthy(repair);
  take();
  heartbeat(c, target, 1_050, {
    replications: [{ repair_id: repair!.repair_id, digest: D('blk'), ok: true, error: '', bad_sources: [a, x] }],
  });
  const audits = take().filter((e): e is Extract<Effect, { type: 'audit' }> => e.type === 'audit');
  t.deepEqual(audits.map((e) => e.trackerId), [a], 'only a listed replica is audited');
  for (const id of [a, b, x]) t.deepEqual(c.trackers(1_050).find((i) => i.tracker_id === id)!.verdicts, []);
  t.deepEqual(c.blockHealth(D('blk'))!.live.sort(), [a, b, target].sort());
});

test('core: a tracker\'s report of a bad read is ignored for a block it was never sent to read', (t) => {
  const { core: c, ids, take } = core();
  const [a, b, x] = ids as [string, string, string];
  c.trackBlock(D('blk'), 10, 2, [a, b], 0);
  const now = pastSafeMode(c, ids);
  take();
  heartbeat(c, x, now, { bad_reads: [{ digest: D('blk'), tracker_id: a }] });
  t.deepEqual(take().filter((e) => e.type === 'audit'), []);
});

test('core: a job audit\'s "not held" is still no proof', (t) => {
  const { core: c, ids } = core();
  c.auditResult({ jobId: 'job_1', task: 'reduce task 0', trackerId: ids[0]!, digest: D('m') }, true, 1, false);
  t.deepEqual(c.trackers(1).find((i) => i.tracker_id === ids[0])!.verdicts, []);
});

test('replication lowered: the extra copies are unlisted and deleted, once no repair of the block is under way; raised: copies are made', (t) => {
  const c = new Cluster('A', 'B', 'C', 'D');
  const m = monitor(c);
  m.track(D('x'), 10, 3, ['A', 'B', 'C'], 0);
  m.tick(1);
  t.deepEqual([...takeAll(m, ['A', 'B', 'C', 'D'], 1).values()].flat(), []);
  m.takeChanged();
  m.track(D('x'), 10, 1, [], 2); // as jobtracker/server.ts does for `dfs setrep 1`
  m.tick(3);
  const out = takeAll(m, ['A', 'B', 'C', 'D'], 3);
  const deleted = [...out.entries()].filter(([, a]) => deletesIn(a).includes(D('x'))).map(([id]) => id);
  t.is(deleted.length, 2);
  const kept = m.health(D('x'))!.live;
  t.is(kept.length, 1);
  t.false(deleted.includes(kept[0]!));
  t.is(m.health(D('x'))!.state, 'HEALTHY');
  t.deepEqual(m.takeChanged(), [{ digest: D('x'), replicas: kept }]);
  for (const id of deleted) m.repliesAcknowledged(id);
  // Raised again: copies are made, the deleted ones included (once their trackers had the replies), from the one left.
  m.track(D('x'), 10, 3, [], 4);
  m.tick(5);
  const repairs = [...takeAll(m, ['A', 'B', 'C', 'D'], 5).values()].flatMap(repairsIn);
  t.is(repairs.length, 2);
  t.true(repairs.every((r) => r.sources.length === 1 && r.sources[0]!.tracker_id === kept[0]));
});

test('replication lowered: the copies that go are those on the trackers holding the most, as HDFS deletes where space is shortest', (t) => {
  const c = new Cluster('A', 'B', 'C', 'D');
  const m = monitor(c);
  m.track(D('big-on-B'), 1_000, 1, ['B'], 0);
  m.track(D('big-on-D'), 500, 1, ['D'], 0);
  m.track(D('x'), 10, 4, ['A', 'B', 'C', 'D'], 0);
  m.tick(1);
  takeAll(m, ['A', 'B', 'C', 'D'], 1);
  m.track(D('x'), 10, 2, [], 2);
  m.tick(3);
  const out = takeAll(m, ['A', 'B', 'C', 'D'], 3);
  t.deepEqual([...out.entries()].filter(([, a]) => deletesIn(a).includes(D('x'))).map(([id]) => id), ['B', 'D']);
  t.deepEqual(m.health(D('x'))!.live.sort(), ['A', 'C']);
});

test('a block with a repair under way is not trimmed until the repair is over', (t) => {
  const c = new Cluster('A', 'B', 'C');
  const m = monitor(c);
  m.track(D('x'), 10, 2, ['A'], 0);
  m.tick(1);
  const [r] = [...takeAll(m, ['B', 'C'], 1).entries()].flatMap(([id, a]) => repairsIn(a).map((x) => ({ id, x })));
  m.track(D('x'), 10, 1, [], 2);
  m.tick(3);
  t.deepEqual([...takeAll(m, ['A', 'B', 'C'], 3).values()].flatMap(deletesIn), [], 'not while the copy is being made');
  m.repairResult(r!.id, { repair_id: r!.x.repair_id, digest: D('x'), ok: true, error: '', bad_sources: [] }, 4);
  m.tick(5);
  t.is([...takeAll(m, ['A', 'B', 'C'], 5).values()].flatMap(deletesIn).length, 1);
  t.is(m.health(D('x'))!.live.length, 1);
});

test('core: a balancing move\'s new copy is audited before the old one goes; a target that does not hold it is named and the old copy stays', (t) => {
  const { core: c, ids, take } = core();
  const [a] = ids as [string];
  let now = pastSafeMode(c, ids);
  for (const n of ['w', 'x', 'y', 'z']) c.trackBlock(D(n), 10, 1, [a], now);
  c.balance(true, 0, now);
  c.tick(++now);
  take();
  const moves = ids.flatMap((id) => heartbeat(c, id, now).actions.flatMap((x) => ('replicate_block' in x ? [{ id, r: x.replicate_block }] : [])));
  t.true(moves.length > 0);
  for (const { id, r } of moves) heartbeat(c, id, ++now, { replications: [{ repair_id: r.repair_id, digest: r.digest, ok: true, error: '', bad_sources: [] }] });
  const audits = take().filter((e): e is Extract<Effect, { type: 'audit' }> => e.type === 'audit');
  t.deepEqual(audits.map((e) => [e.trackerId, e.task, !!e.routine]).sort(), moves.map(({ id }) => [id, 'a copy a balancing move made', true]).sort());
  // The first target holds its copy; the second says it did but does not.
  t.true(audits.length >= 2);
  const [good, liar] = audits as [Extract<Effect, { type: 'audit' }>, Extract<Effect, { type: 'audit' }>];
  c.auditResult(good, true, ++now);
  c.auditResult(liar, true, ++now, false);
  c.tick(++now);
  const deletes = ids.flatMap((id) => heartbeat(c, id, now).actions.flatMap((x) => ('delete_blocks' in x ? x.delete_blocks.digests.map((d) => [id, d]) : [])));
  t.deepEqual(deletes.sort(), [[a, good.digest], [liar.trackerId, liar.digest]].sort(),
    'the checked move took a copy from A, the liar\'s claimed copy goes, the others are still being checked');
  t.true(c.blockHealth(liar.digest)!.live.includes(a), 'A keeps the copy the liar claimed to replace');
  t.false(c.blockHealth(liar.digest)!.live.includes(liar.trackerId));
  t.regex(c.trackers(now).find((i) => i.tracker_id === liar.trackerId)!.verdicts.join(), /lost block .* it claimed \(a copy a balancing move made\)/);
});
