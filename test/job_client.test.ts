import test from 'ava';
import type * as M from '../lib/messages.ts';
import { waitingText } from '../cli/job_client.ts';

const attempt = (tracker: string, outcome: M.AttemptInfo['outcome'], startMs: number): M.AttemptInfo => ({
  attempt_id: `a-${tracker}-${startMs}`, kind: 'map', task: 0, tracker_id: tracker, outcome, start_ms: startMs, end_ms: 0,
  local_read: true, error: '', fetched_bytes: 0,
});

test('a stalled job names the trackers whose attempts still run, and how long the oldest has gone without a report', (t) => {
  const attempts = [
    attempt('tracker-10', 'running', 5_000), attempt('tracker-2', 'running', 1_000), attempt('tracker-2', 'running', 9_000),
    attempt('tracker-1', 'reported', 0), attempt('tracker-3', 'agreed', 0),
  ];
  t.is(waitingText('job_1', attempts, 121_000),
    'no report for 120s from tracker-2, tracker-10 (3 attempts running); `bftmr job kill job_1` stops the job');
  t.regex(waitingText('job_1', attempts, 121_000, true)!, /; Ctrl-C stops the job and its cluster$/, 'bftmr run: its cluster goes with it');
  t.is(waitingText('job_1', attempts.filter((a) => a.outcome !== 'running'), 121_000), undefined, 'nothing running: nothing to name');
});
