import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { attemptLogPath, captureConsole, expireTaskLogs, kTaskLogBytes } from '../tasktracker/task_log.ts';
import { printableLog } from '../cli/job_commands.ts';
import { escapeControls } from '../cli/progress.ts';
import { summaryText } from '../cli/job_client.ts';
import type { JobStatus } from '../lib/messages.ts';
import { tempDir } from './helpers/temp.ts';

const dir = () => tempDir('bftmr-tasklog-');

test('console goes to the attempt\'s log while it runs, and back afterwards; nothing logged, no file', (t) => {
  const d = dir();
  const real = console;
  const file = path.join(d, 'job_1', 'a.log');
  const log = captureConsole(file);
  t.not(console, real);
  console.log('one', 2, { three: 3 });
  // Each line is on disk at once: a running attempt's log shows it, a killed attempt keeps it.
  t.is(fs.readFileSync(file, 'utf8'), 'one 2 { three: 3 }\n');
  console.error('to stderr');
  t.is(fs.readFileSync(file, 'utf8'), 'one 2 { three: 3 }\nto stderr\n');
  log.finish();
  t.is(console, real);
  t.is(fs.readFileSync(file, 'utf8'), "one 2 { three: 3 }\nto stderr\n");
  captureConsole(path.join(d, 'job_1', 'quiet.log')).finish();
  t.false(fs.existsSync(path.join(d, 'job_1', 'quiet.log')));
});

test('a log is capped, says how much it dropped, and ends with the task\'s error', (t) => {
  const d = dir();
  const log = captureConsole(path.join(d, 'big.log'));
  const line = 'x'.repeat(1023);
  for (let i = 0; i < 1100; i++) {
    console.log(line);
    // Written as it goes.
    if (i === 100) t.is(fs.statSync(path.join(d, 'big.log')).size, 101 * 1024);
  }
  log.finish(new Error('boom'));
  const text = fs.readFileSync(path.join(d, 'big.log'), 'utf8');
  t.true(text.startsWith(line));
  t.regex(text, new RegExp(`\\[bftmr: ${1100 * 1024 - kTaskLogBytes} more characters were not kept: a task keeps ${kTaskLogBytes} at most\\]\\n\\[bftmr: the task failed: Error: boom\\n`));
});

test('log paths take ids only: nothing a caller names leaves the logs directory', (t) => {
  t.is(attemptLogPath('/tt', 'job_1', 'attempt_job_1_m_000000_0'), path.join('/tt', 'logs', 'job_1', 'attempt_job_1_m_000000_0.log'));
  for (const [job, attempt] of [['..', 'a'], ['job_1', '../../etc/passwd'], ['job/1', 'a'], ['', 'a'], ['.hidden', 'a'], ['job_1', 'a\0']]) {
    t.is(attemptLogPath('/tt', job!, attempt!), undefined, `${job} ${attempt}`);
  }
});

test('logs of jobs older than the retention are deleted, newer ones kept', async (t) => {
  const d = dir();
  for (const job of ['job_old', 'job_new']) {
    fs.mkdirSync(path.join(d, 'logs', job), { recursive: true });
    fs.writeFileSync(path.join(d, 'logs', job, 'a.log'), 'x\n');
  }
  const old = Date.now() / 1000 - 2 * 86_400;
  fs.utimesSync(path.join(d, 'logs', 'job_old'), old, old);
  t.deepEqual(await expireTaskLogs(d, Date.now()), { gone: 1, failed: undefined });
  t.deepEqual(fs.readdirSync(path.join(d, 'logs')), ['job_new']);
  t.deepEqual(await expireTaskLogs(path.join(d, 'nothing-here'), Date.now()), { gone: 0, failed: undefined });
});

test('a log is shown safe for a terminal: no escape sequence gets through, and no line passes for another attempt\'s header', (t) => {
  t.is(printableLog('plain\ttext\n'), 'plain\ttext\n');
  t.is(printableLog('\u001b[2J\u001b]0;owned\u0007gone'), '\\x1b[2J\\x1b]0;owned\\x07gone\n');
  t.is(printableLog('ok\n==> map 0, attempt_x on tracker-1 (succeeded) <==\nlies\n'), 'ok\n ==> map 0, attempt_x on tracker-1 (succeeded) <==\nlies\n');
  t.is(printableLog('carriage\rreturn'), 'carriage\\x0dreturn\n');
  // The same escaping for an error a tracker sent, wherever the CLI prints one.
  t.is(escapeControls('no such block\u001b[31m (honest-tracker lied)\tnow'), 'no such block\\x1b[31m (honest-tracker lied)\tnow');
  // A failed job's summary quotes the error a tracker reported: escaped too.
  const failed = { job_id: 'job_1', name: 'wc', state: 'FAILED', elapsed_ms: 1000, f: 1, maps_total: 1, map_attempts: 2, local_map_reads: 2,
    map_fetched_bytes: 0, reduces_total: 1, reduce_attempts: 0, reduce_reruns: 0, votes_decided: 0, output: '/o', rerun_of: '', rerun_as: '',
    error: 'map task 0 failed on 2 trackers (t-0, t-1): \u001b]0;owned\u0007', error_code: 'BFT_TASK_FAILED', verdicts: [], counters: [] } as unknown as JobStatus;
  t.regex(summaryText(failed), /\n  error: map task 0 failed on 2 trackers \(t-0, t-1\): \\x1b\]0;owned\\x07$/);
});
