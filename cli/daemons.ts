/** `bftmr jobtracker` and `bftmr tasktracker`: the daemons, in the foreground (the cluster launcher runs them too). */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { kJobTrackerDefaults, kTaskTrackerDefaults } from '../lib/options.ts';
import { kBusyAuditSlowdown } from '../jobtracker/core/replication.ts';
import { startJobTracker } from '../jobtracker/server.ts';
import { startTaskTracker } from '../tasktracker/server.ts';
import { FAULT_MODES, parseFault } from '../tasktracker/faults.ts';
import { hostPort, positiveNumber, wholeNumber } from './args.ts';
import { readCredentials, type Role } from '../lib/identity.ts';
import { ownIdentity, useCredentials } from '../lib/rpc.ts';
import { BftmrError } from '../lib/errors.ts';

/** Loads this daemon's certificate (`--tls-dir`, default `<dir>/tls`) and checks its role. */
async function identify(dir: string, tlsDirFlag: string | undefined, role: Role): Promise<void> {
  useCredentials(await readCredentials(path.resolve(tlsDirFlag ?? path.join(dir, 'tls'))));
  const me = ownIdentity();
  if (me.role !== role) throw new BftmrError('AUTH_NO_CREDENTIALS', `the certificate in ${tlsDirFlag ?? path.join(dir, 'tls')} is for ${me.role} ${me.name}, not a ${role}`);
}

function logger(name: string): (line: string) => void {
  return (line) => process.stdout.write(`${new Date().toISOString()} ${name} ${line}\n`);
}

async function runUntilSignalled(handle: { stop(): Promise<void>; stopped: Promise<void> }): Promise<void> {
  const onSignal = () => void handle.stop();
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  await handle.stopped;
  process.exit(0);
}

async function writeReady(file: string | undefined, address: string): Promise<void> {
  if (!file) return;
  await fs.writeFile(file + '.tmp', address + '\n');
  await fs.rename(file + '.tmp', file);
}

export function registerDaemons(program: Command): void {
  program.command('jobtracker')
    .description('run a job tracker in the foreground (trusted: schedules, votes, keeps the dfs namespace)')
    .requiredOption('--dir <dir>', 'state directory (namespace database)')
    .option('--listen <host:port>', 'address to listen on', hostPort, kJobTrackerDefaults.listen)
    .option('--ready-file <file>', 'write the listening address here once ready')
    .option('--late-factor <x>', 'an attempt is late past this many times what its finished siblings\' median time per byte of input gives for its input', positiveNumber, kJobTrackerDefaults.lateFactor)
    .option('--late-floor-ms <ms>', '…and at least this long', wholeNumber(0), kJobTrackerDefaults.lateFloorMs)
    .option('--deadline-factor <x>', 'a tracker still running an attempt past this many times the pace of its decided task (or siblings) missed its deadline (a verdict)', positiveNumber, kJobTrackerDefaults.deadlineFactor)
    .option('--deadline-floor-ms <ms>', '…and at least this long', wholeNumber(0), kJobTrackerDefaults.deadlineFloorMs)
    .option('--pair-wait-ms <ms>', 'a free slot waits this long, or a quarter of the job\'s median map time, before it takes a fresh map by itself when the map\'s f+1 attempts cannot all start now (0: never)', wholeNumber(0), kJobTrackerDefaults.pairWaitMs)
    .option('--heartbeat-ms <ms>', 'heartbeat interval (longer on a big cluster, see --heartbeats-per-sec)', wholeNumber(10), kJobTrackerDefaults.heartbeatIntervalMs)
    .option('--heartbeats-per-sec <n>', 'the periodic heartbeats to take per second at most: with more trackers the interval grows', wholeNumber(1), kJobTrackerDefaults.heartbeatsPerSec)
    .option('--expiry-ms <ms>', 'declare a tracker dead after this long without a heartbeat (stretched as the interval is)', wholeNumber(100), kJobTrackerDefaults.trackerExpiryMs)
    .option('--blacklist-after <n>', 'stop using a tracker with more verdicts than this', wholeNumber(0), kJobTrackerDefaults.blacklistAfterVerdicts)
    .option('--tls-dir <dir>', 'this node\'s certificate, key and the cluster CA (ca.crt, node.crt, node.key; default <dir>/tls)')
    .option('--dfs-audit-ms <ms>', `audit one random dfs replica per this interval, ${kBusyAuditSlowdown} times less often while jobs run (0: never)`, wholeNumber(0), kJobTrackerDefaults.dfsAuditIntervalMs)
    .option('--job-history <n>', 'finished jobs to keep (status, attempts, records); the oldest beyond are forgotten', wholeNumber(1), kJobTrackerDefaults.jobHistory)
    .option('--write-lease-ms <ms>', 'a put\'s lease lapses after this long without renewal (its client died): blocks it stored that no file lists are then collected', wholeNumber(1000), kJobTrackerDefaults.writeLeaseMs)
    .option('--job-code-keep-ms <ms>', 'a job\'s code stays in the dfs this long after the last job that ran it ended', wholeNumber(0), kJobTrackerDefaults.jobCodeKeepMs)
    .action(async (o) => {
      await identify(o.dir, o.tlsDir, 'jobtracker');
      const handle = await startJobTracker({
        dir: path.resolve(o.dir), listen: o.listen, heartbeatIntervalMs: o.heartbeatMs, heartbeatsPerSec: o.heartbeatsPerSec, trackerExpiryMs: o.expiryMs,
        blacklistAfterVerdicts: o.blacklistAfter, lateFactor: o.lateFactor, lateFloorMs: o.lateFloorMs,
        deadlineFactor: o.deadlineFactor, deadlineFloorMs: o.deadlineFloorMs, pairWaitMs: o.pairWaitMs,
        dfsAuditIntervalMs: o.dfsAuditMs, jobHistory: o.jobHistory, writeLeaseMs: o.writeLeaseMs, jobCodeKeepMs: o.jobCodeKeepMs,
      }, logger('jobtracker'));
      await writeReady(o.readyFile, handle.address);
      await runUntilSignalled(handle);
    });

  program.command('tasktracker')
    .description('run a task tracker in the foreground (untrusted: runs attempts, stores blocks)')
    .requiredOption('--jobtracker <host:port>', 'address of the job tracker')
    .requiredOption('--dir <dir>', 'state directory (blocks, identity)')
    .option('--listen <host:port>', 'address to listen on', hostPort, kTaskTrackerDefaults.listen)
    .option('--advertise-host <host>', 'host name other nodes use to reach this one', kTaskTrackerDefaults.advertiseHost)
    .option('--slots <n>', 'task slots (worker threads)', wholeNumber(1, 256), kTaskTrackerDefaults.slots)
    .option('--task-memory-mb <mb>', 'heap cap of one task worker', wholeNumber(64), kTaskTrackerDefaults.taskMemoryMb)
    .option('--fault <mode>', `misbehave on purpose, for testing: ${FAULT_MODES.join(', ')}`, '')
    .option('--ready-file <file>', 'write the listening address here once registered')
    .option('--tls-dir <dir>', 'this node\'s certificate (its name is the tracker id), key and the cluster CA (default <dir>/tls)')
    .option('--scrub-mb-per-s <mb>', 're-hash held dfs blocks in the background at most this fast (0: off)', wholeNumber(0), kTaskTrackerDefaults.scrubMbPerSec)
    .option('--block-report-ms <ms>', 'report every dfs block held to the job tracker this often (it deletes what no file needs)', wholeNumber(100), kTaskTrackerDefaults.blockReportMs)
    .action(async (o) => {
      parseFault(o.fault);
      await identify(o.dir, o.tlsDir, 'tasktracker');
      const handle = await startTaskTracker({
        dir: path.resolve(o.dir), jobTracker: o.jobtracker, listen: o.listen, advertiseHost: o.advertiseHost,
        slots: o.slots, fault: o.fault, taskMemoryMb: o.taskMemoryMb,
        scrubMbPerSec: o.scrubMbPerS, blockReportMs: o.blockReportMs,
      }, logger('tasktracker'));
      await writeReady(o.readyFile, handle.address);
      await runUntilSignalled(handle);
    });
}
