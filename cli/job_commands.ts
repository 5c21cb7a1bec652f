/** `bftmr job submit|status|attempts|list|kill` and `bftmr run` (a throw-away local cluster around one job). */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { BftmrError, messageOf } from '../lib/errors.ts';
import { onStopSignals } from '../lib/signals.ts';
import type * as M from '../lib/messages.ts';
import { kTaskTrackerDefaults, kClusterDefaults, kJobDefaults, MB } from '../lib/options.ts';
import { DfsClient } from '../dfs/client.ts';
import { FAULT_MODES, isStorageLiar, liesWhenServing, parseFault } from '../tasktracker/faults.ts';
import { checkFaultOptions, collect, collectConf, positiveNumber, wholeNumber } from './args.ts';
import { bundleJob } from './bundle.ts';
import { startCluster, stopCluster, type ClusterState } from './cluster_launcher.ts';
import { withCluster } from './context.ts';
import { precheck, storeBundle, submit, summaryObject, summaryText, waitForJob, type SubmitParams } from './job_client.ts';
import { countOf, escapeControls, formatBytes, ProgressLine } from './progress.ts';
import { Peers } from '../dfs/peers.ts';
import { kTaskLogBytes } from '../tasktracker/task_log.ts';
import { onInterruptRemoveScratch, removeScratch } from '../lib/scratch.ts';
import { listLocal } from './put_plan.ts';

function jobOptions(cmd: Command, local = false): Command {
  return cmd
    .requiredOption('--input <path>', local ? 'local input file or directory (repeatable)' : 'input file or directory in the dfs, or a pattern: /logs/*.txt, /in/{a,b} (repeatable)', collect)
    .requiredOption('--output <path>', 'output directory (must not exist)')
    .option('--f <n>', 'faulty task trackers to tolerate (0: one attempt per task, like plain Hadoop)', wholeNumber(0, 32), kJobDefaults.f)
    .option('--reduces <n>', 'number of reduce tasks (0: a map-only job, whose maps write its output, part-m-NNNNN)', wholeNumber(0, 10_000), kJobDefaults.numReduces)
    .option('--split-mb <mb>', 'map split size in MB', positiveNumber, kJobDefaults.splitBytes / MB)
    .option('--conf <key=value>', 'job configuration, seen by the job as ctx.conf (repeatable)' + (local ? '; a path (with a /) naming a local input becomes its dfs path' : ''), collectConf)
    .option('--name <name>', 'job name (default: the module file name)')
    .option('--cache-file <path>', 'a file every task may read whole, as ctx.cacheFile(its name) (repeatable; in the dfs, or local for run)', collect)
    .option('--no-typecheck', 'do not check the module\'s types (they are then only stripped, as tsx does)')
    .option('--json', 'print the summary as one JSON object');
}

function params(modulePath: string, o: Record<string, any>, inputs: string[], output: string, cacheFiles: string[]): SubmitParams {
  return {
    inputs, output, f: o.f, reduces: o.reduces, splitBytes: Math.round(o.splitMb * MB), conf: o.conf ?? {}, cacheFiles,
    name: o.name ?? path.basename(modulePath).replace(/\.[cm]?[jt]s$/, ''),
  };
}

/**
 * `run`'s status with the user's own paths for those of its throw-away dfs (`/input/0-x.txt`,
 * `/output`): in the output line and in an error that names an input.
 */
function localPaths(s: M.JobStatus, names: Map<string, string>): M.JobStatus {
  // Longest first: /input/0-a/b before /input/0-a. Only whole paths (not followed by more of one).
  const dfsPaths = [...names.keys()].sort((a, b) => b.length - a.length);
  const pattern = new RegExp(`(${dfsPaths.map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})(?![\\w/-])`, 'g');
  return { ...s, output: names.get(s.output) ?? s.output, error: s.error.replace(pattern, (p) => names.get(p)!) };
}

function finish(s: M.JobStatus, json: boolean, extra: Record<string, unknown> = {}, extraLines: string[] = []): void {
  if (json) console.log(JSON.stringify(summaryObject(s, extra)));
  else console.log(summaryText(s, extraLines));
  if (s.state !== 'SUCCEEDED') {
    if (!json) process.stderr.write(`bftmr: job ${s.job_id} ${s.state === 'KILLED' ? 'was' : 'failed:'} ${escapeControls(s.error)}\n`);
    process.exitCode = 1;
  }
}

/** More verdicts than any run's cluster gets: its storage liars are not blacklisted (see run). */
const NEVER_BLACKLIST = 1_000_000;

export function registerJob(program: Command): void {
  const job = program.command('job').description('submit and follow jobs on a running cluster');

  jobOptions(job.command('submit <module>')
    .description('bundle a TypeScript job module and run it on the cluster; waits for the result'))
    .option('--no-wait', 'return as soon as the job is accepted')
    .action((modulePath: string, o, cmd: Command) => withCluster(cmd, async (dfs) => {
      const p = params(modulePath, o, await dfs.expand(o.input), o.output, await dfs.expand(o.cacheFile ?? []));
      const bundle = await bundleJob(modulePath, { typecheck: o.typecheck });
      await precheck(dfs, p);
      const stored = await onInterruptRemoveScratch(() => storeBundle(dfs, bundle)); // Ctrl-C leaves no block file behind
      const jobId = await submit(dfs, bundle, stored, p);
      if (!o.wait) { console.log(o.json ? JSON.stringify({ job_id: jobId }) : jobId); return; }
      // As with Hadoop, the job belongs to the cluster: interrupting the wait does not stop it.
      const onSignal = () => {
        const home = cmd.optsWithGlobals().home ? ` --home ${cmd.optsWithGlobals().home}` : '';
        process.stderr.write(`\nbftmr: stopped waiting; ${jobId} keeps running (\`bftmr${home} job status ${jobId}\` shows it, \`bftmr${home} job kill ${jobId}\` stops it)\n`);
        process.exit(130);
      };
      process.once('SIGINT', onSignal);
      try {
        finish(await waitForJob(dfs, jobId, !o.json), !!o.json);
      } finally {
        process.off('SIGINT', onSignal);
      }
    }));

  job.command('kill <jobId>')
    .description('stop a running job: its attempts are killed and nothing is committed')
    .option('--json', 'print the job\'s summary as one JSON object')
    .action((jobId: string, o, cmd: Command) => withCluster(cmd, async (dfs) => {
      const s = await dfs.jobTracker.call<M.JobId, M.JobStatus>('KillJob', { job_id: jobId }, kClusterDefaults.rpcDeadlineMs);
      console.log(o.json ? JSON.stringify(summaryObject(s)) : `${s.job_id} killed: maps ${s.maps_decided}/${s.maps_total} and reduces ` +
        `${s.reduces_decided}/${s.reduces_total} had been decided; ${s.output} was not written`);
    }));

  job.command('status <jobId>')
    .description('the state and summary of a job')
    .option('--wait', 'wait for the job to end first (one submitted with --no-wait), with progress on a terminal; exit status 0 only if its output was committed')
    .option('--json', 'print one JSON object')
    .action((jobId: string, o, cmd: Command) => withCluster(cmd, async (dfs) => {
      if (o.wait) { finish(await waitForJob(dfs, jobId, !o.json), !!o.json); return; }
      const s = await dfs.jobTracker.call<M.GetJobRequest, M.JobStatus>('GetJob', { job_id: jobId }, kClusterDefaults.rpcDeadlineMs);
      console.log(o.json ? JSON.stringify(summaryObject(s)) : summaryText(s));
    }));

  job.command('attempts <jobId>')
    .description('every attempt of a job: its task, tracker, start and end, and what became of it')
    .option('--json', 'print one JSON array')
    .action((jobId: string, o, cmd: Command) => withCluster(cmd, async (dfs) => {
      const { attempts } = await dfs.jobTracker.call<M.JobId, M.ListAttemptsReply>('ListAttempts', { job_id: jobId }, kClusterDefaults.rpcDeadlineMs);
      console.log(o.json ? JSON.stringify(attempts) : attemptsText(attempts));
    }));

  job.command('logs <jobId>')
    .description('what each attempt\'s own code wrote with console, as its tracker kept it (a day; the tracker\'s word, not voted)')
    .option('--task <kind:n>', 'only the attempts of one task, e.g. map:3 or reduce:0')
    .option('--json', 'print one JSON array')
    .action((jobId: string, o, cmd: Command) => withCluster(cmd, async (dfs) => {
      const only = o.task === undefined ? undefined : /^(map|reduce):(\d+)$/.exec(o.task);
      if (o.task !== undefined && !only) throw new BftmrError('JOB_BAD_ARGUMENT', `--task ${o.task}: expected map:N or reduce:N`);
      const { attempts } = await dfs.jobTracker.call<M.JobId, M.ListAttemptsReply>('ListAttempts', { job_id: jobId }, kClusterDefaults.rpcDeadlineMs);
      const wanted = attempts.filter((a) => !only || (a.kind === only[1] && a.task === Number(only[2])));
      if (only && wanted.length === 0) throw new BftmrError('JOB_BAD_ARGUMENT', `${jobId} has no attempts of ${o.task}`);
      const logs = await attemptLogs(jobId, wanted, await dfs.trackers());
      if (o.json) { console.log(JSON.stringify(logs)); return; }
      for (const l of logs) {
        process.stdout.write(`==> ${l.kind} ${l.task}, ${l.attempt_id} on ${l.tracker_id} (${l.outcome}) <==\n`);
        const none = l.outcome === 'running' ? '(still running; nothing logged so far)'
          : l.outcome === 'failed' && l.error ? `(nothing logged; it ended: ${escapeControls(l.error).replace(/\n/g, ' ')})`
            : '(nothing logged, or its log is gone: trackers keep them a day)';
        process.stdout.write(l.text === null ? `(${l.unavailable})\n` : l.text ? printableLog(l.text) : `${none}\n`);
      }
    }));

  job.command('list')
    .description('jobs the job tracker knows, oldest first')
    .option('--json', 'print one JSON array')
    .action((o, cmd: Command) => withCluster(cmd, async (dfs) => {
      const { jobs } = await dfs.jobTracker.call<M.Empty, M.ListJobsReply>('ListJobs', {}, kClusterDefaults.rpcDeadlineMs);
      if (o.json) { console.log(JSON.stringify(jobs.map((s) => summaryObject(s)))); return; }
      const width = Math.max(0, ...jobs.map((s) => s.name.length));
      for (const s of jobs) {
        const took = s.error_code === 'JOB_INTERRUPTED' ? 'cut short by a restart' : `${(s.elapsed_ms / 1000).toFixed(1)}s`;
        console.log(`${s.job_id}  ${s.state.padEnd(9)}  ${s.name.padEnd(width)}  -> ${s.output}  ${took}${s.rerun_as ? `, runs again as ${s.rerun_as}` : ''}`);
      }
    }));

  jobOptions(program.command('run <module>')
    .description('run a job on a throw-away local cluster: local input in, local output out'), true)
    .option('--trackers <n>', 'task trackers to start', wholeNumber(1, 64), kClusterDefaults.trackers)
    .option('--slots <n>', `task slots per tracker (default ${kTaskTrackerDefaults.slots}: this host's cores, at most 4)`, wholeNumber(1, 256))
    .option('--task-memory-mb <mb>', `heap cap of one task worker (default ${kTaskTrackerDefaults.taskMemoryMb})`, wholeNumber(64))
    .option('--faulty <k>', 'give the fault mode to this many trackers', wholeNumber(0), 0)
    .option('--fault <mode>', `fault mode for --faulty trackers: ${FAULT_MODES.join(', ')}`)
    .option('--keep', 'keep the cluster directory (logs) after the run')
    .action(async (modulePath: string, o, cmd: Command) => {
      // Everything that can be refused is refused before any process starts.
      if (cmd.optsWithGlobals().home !== undefined) {
        throw new BftmrError('JOB_BAD_ARGUMENT', 'run starts a throw-away cluster of its own, in a temporary directory (--keep keeps it); ' +
          '--home names a long-running cluster: `bftmr --home DIR job submit` runs a job there');
      }
      checkFaultOptions(o);
      if (o.trackers < 2 * o.f + 1) {
        throw new BftmrError('BFT_TOO_FEW_TRACKERS', `f=${o.f} needs at least 2f+1=${2 * o.f + 1} task trackers, and --trackers is ${o.trackers}`);
      }
      if (o.faulty > o.f) {
        process.stderr.write(`bftmr: warning: --faulty ${o.faulty} is more than --f ${o.f}: bftmr tolerates at most f faulty trackers, so the job may fail, ` +
          `or commit a wrong output if they agree (collude)\n`);
      }
      const inputs: string[] = o.input;
      for (const i of inputs) if (!fs.existsSync(i)) throw new BftmrError('LOCAL_IO', `input ${i} does not exist`);
      for (const i of inputs) if (listLocal(i).length === 0) throw new BftmrError('LOCAL_IO', `input ${i} is a directory with no files in it`);
      for (const c of (o.cacheFile ?? []) as string[]) if (!fs.statSync(c, { throwIfNoEntry: false })?.isFile()) throw new BftmrError('LOCAL_IO', `cache file ${c} is not a local file`);
      if (fs.existsSync(o.output)) throw new BftmrError('DFS_EXISTS', `output ${o.output} already exists`);
      // Its nearest existing ancestor must be a directory: found out now, not after the job ran.
      let above = path.dirname(path.resolve(o.output));
      while (!fs.existsSync(above)) above = path.dirname(above);
      if (!fs.statSync(above).isDirectory()) throw new BftmrError('LOCAL_IO', `output ${o.output}: ${above} is not a directory`);
      // Bundled and checked while the cluster starts (the type check takes a second of its own
      // thread); a module refused then stops the cluster before any input is copied.
      const bundling = bundleJob(modulePath, { typecheck: o.typecheck });
      bundling.catch(() => {}); // awaited once the cluster is up

      const home = await fsp.mkdtemp(path.join(os.tmpdir(), 'bftmr-run-'));
      const line = new ProgressLine(!o.json);
      let state: ClusterState | undefined;
      let dfs: DfsClient | undefined;
      let cleaning: Promise<void> | undefined;
      const cleanup = () => (cleaning ??= (async () => {
        dfs?.close();
        if (state) await stopCluster(state).catch(() => {});
        if (!o.keep) await fsp.rm(home, { recursive: true, force: true }).catch(() => {});
        else process.stderr.write(`bftmr: kept the cluster directory ${home} (each daemon's log and state)\n`);
      })());
      let copying = false;
      // Ctrl-C: while the cluster starts, the start stops and kills what it started; later, the
      // throw-away cluster is stopped and its directory removed, and nothing else is said.
      const abort = new AbortController();
      let interrupted = false;
      /** The signal handler stops the cluster and exits: the main flow then only waits. */
      let tookOver = false;
      /** The summary is out (and the output copied): a signal then changes nothing of the outcome. */
      let reported = false;
      const onSignal = () => {
        // The cluster is being stopped already: that goes on to its end, and the run exits as it would have.
        if (reported) return;
        if (interrupted) return;
        interrupted = true;
        abort.abort();
        if (!state) return; // the start fails with INTERRUPTED, and the finally below cleans up
        tookOver = true;
        line.done();
        process.stderr.write('\nbftmr: interrupted: stopping the throw-away cluster\n');
        // From here the outcome is 130 whatever else fails: the work in flight (a put, a get, a job
        // wait) fails as the cluster and its files go under it, and that is no error of the run's.
        // Left uncaught, such a failure would end the run with 1 before the cluster is stopped.
        const swallow = (e: unknown) => { if (process.env.BFTMR_DEBUG) process.stderr.write(`bftmr: after the interrupt: ${(e as Error)?.stack ?? String(e)}\n`); };
        process.on('uncaughtException', swallow);
        process.on('unhandledRejection', swallow);
        // A half-copied output goes with the files being written into it. A removal can fail while
        // the work in flight still writes into what is removed: the cluster's directory goes anyway.
        const removals = [removeScratch, () => copying && fs.rmSync(o.output, { recursive: true, force: true, maxRetries: 3, retryDelay: 20 })];
        for (const remove of removals) {
          try {
            remove();
          } catch (e) {
            process.stderr.write(`bftmr: ${messageOf(e)}\n`);
          }
        }
        void cleanup().finally(() => process.exit(130));
      };
      const offSignals = onStopSignals(onSignal);
      try {
        const started = Date.now();
        state = await startCluster(home, {
          signal: abort.signal,
          trackers: o.trackers, slots: o.slots, taskMemoryMb: o.taskMemoryMb, faulty: o.faulty, fault: o.fault, detached: false,
          // This cluster runs one job, beside the liars asked for: one that lies about the blocks it
          // serves is caught as the input is copied in (by a node pulling a copy from it), and stays
          // in service for the job, where it is named for what it does there. (A long-running
          // cluster blacklists it; so does this one a liar caught in the job, as there.)
          ...(o.faulty > 0 && liesWhenServing(parseFault(o.fault)) ? { blacklistAfterVerdicts: NEVER_BLACKLIST } : {}),
          onProgress: (l) => line.update(l),
        });
        // Interrupted after the start's last look: the cluster is up, and goes in the finally below.
        if (interrupted) throw new BftmrError('INTERRUPTED', 'interrupted: the throw-away cluster was stopped');
        const bundle = await bundling;
        dfs = new DfsClient(state.jobTracker.address);
        const splitBytes = Math.round(o.splitMb * MB);
        // Plain storage liars fail every writer's check, so they can never keep a copy of the input,
        // and late ones fail it for a block stored again (a file's repeated block, or two inputs
        // alike, is challenged anew): ask only for as many copies as the honest trackers can hold.
        const refusers = o.fault && isStorageLiar(parseFault(o.fault)) ? o.faulty : 0;
        const replication = Math.max(1, Math.min(3, o.trackers - refusers));
        const dfsInputs: string[] = [];
        /** dfs path -> the user's own name for it: what the summary and errors say. */
        const localNames = new Map<string, string>([['/output', o.output]]);
        /** Each input, and each file below one, by its absolute local path -> its dfs path. */
        const inDfs = new Map<string, string>();
        for (const [i, input] of inputs.entries()) {
          const base = `/input/${i}-${path.basename(path.resolve(input))}`;
          inDfs.set(path.resolve(input), base);
          for (const f of listLocal(input)) {
            const rel = path.relative(input, f);
            const target = rel ? `${base}/${rel.split(path.sep).join('/')}` : base;
            localNames.set(target, f);
            // The file, and each directory between it and the input.
            for (let l = f, d = target; d !== base; l = path.dirname(l), d = d.slice(0, d.lastIndexOf('/'))) inDfs.set(path.resolve(l), d);
            line.update(`copying ${f} into the dfs`);
            await dfs.put(f, target, { replication, blockBytes: splitBytes });
          }
          dfsInputs.push(base);
        }
        // A --conf value naming an input by a path (with a /: a join's left side, say) names it as
        // the job sees it (ctx.file). A bare word (a grep pattern that is also a file's name) stays.
        for (const [k, v] of Object.entries((o.conf ?? {}) as Record<string, string>)) {
          const named = v.includes('/') ? inDfs.get(path.resolve(v)) : undefined;
          if (!named) continue;
          o.conf[k] = named;
          line.done();
          process.stderr.write(`bftmr: --conf ${k}=${v} names an input: the job sees it as ${named}\n`);
        }
        // Local cache files go in beside the input, each under its own name.
        const cacheFiles: string[] = [];
        for (const f of (o.cacheFile ?? []) as string[]) {
          const target = `/cache/${path.basename(f)}`;
          localNames.set(target, f);
          line.update(`copying ${f} into the dfs`);
          await dfs.put(f, target, { replication });
          cacheFiles.push(target);
        }
        const p = params(modulePath, o, dfsInputs, '/output', cacheFiles);
        const jobId = await submit(dfs, bundle, await storeBundle(dfs, bundle), p);
        line.done();
        const s = localPaths(await waitForJob(dfs, jobId, !o.json, true), localNames);
        const extraLines: string[] = [];
        let files: string[] = [];
        if (s.state === 'SUCCEEDED') {
          line.update(`copying the output to ${o.output}`);
          copying = true;
          files = await dfs.get('/output', o.output);
          copying = false;
          line.done();
          extraLines.push(`  local files: ${countOf(files.length, 'file')}`, `  total time with cluster start and copies: ${((Date.now() - started) / 1000).toFixed(1)}s`);
        }
        reported = true;
        finish(s, !!o.json, { local_output: s.state === 'SUCCEEDED' ? path.resolve(o.output) : null }, extraLines);
      } catch (e) {
        // Interrupted once the cluster ran: what failed is the cluster being stopped under it.
        if (tookOver) await new Promise(() => {});
        throw e;
      } finally {
        line.done();
        // A signal while the cluster stops must not cut the stop short: the handler waits for it too.
        await cleanup();
        offSignals();
      }
    });
}

/**
 * Each attempt's log, fetched from the tracker that ran it (a few at a time); `text` null, with
 * the reason in `unavailable`, when the tracker cannot be asked. `error` is why a failed attempt
 * ended, as `job attempts` shows it: its code's error, or a kill (its task decided, the job
 * over) that may have come before its code ran at all.
 */
async function attemptLogs(jobId: string, attempts: M.AttemptInfo[], trackers: Map<string, M.TrackerInfo>) {
  const peers = new Peers();
  const one = async (a: M.AttemptInfo) => {
    const base = { attempt_id: a.attempt_id, kind: a.kind, task: a.task, tracker_id: a.tracker_id, outcome: a.outcome, error: a.error };
    const t = trackers.get(a.tracker_id);
    if (!t?.alive) return { ...base, text: null, unavailable: `${a.tracker_id} is not running` };
    try {
      const r = await peers.get(t.address).call<M.AttemptLogRequest, M.AttemptLogReply>('AttemptLog',
        { job_id: jobId, attempt_id: a.attempt_id }, kClusterDefaults.rpcDeadlineMs);
      // A tracker keeps at most kTaskLogBytes of an attempt's log; one that sends more is cut.
      const text = r.found ? r.text : '';
      return { ...base, text: text.length > kTaskLogBytes ? `${text.slice(0, kTaskLogBytes)}\n[cut: ${a.tracker_id} sent ${text.length} characters]\n` : text };
    } catch (e) {
      return { ...base, text: null, unavailable: `${a.tracker_id} did not answer: ${messageOf(e)}` };
    }
  };
  try {
    const out: Awaited<ReturnType<typeof one>>[] = [];
    for (let i = 0; i < attempts.length; i += 16) out.push(...(await Promise.all(attempts.slice(i, i + 16).map(one))));
    return out;
  } finally {
    peers.close();
  }
}

/**
 * A log as the tracker sent it (the task's own words, or a faulty tracker's), made safe for a
 * terminal: control characters other than tab and newline shown escaped (no escape sequence
 * reaches the terminal), and a line that looks like a header indented, so that it cannot pass
 * for another attempt's.
 */
export function printableLog(text: string): string {
  const shown = escapeControls(text).replace(/^==> /gm, ' ==> ');
  return shown.endsWith('\n') ? shown : `${shown}\n`;
}

/** One line per attempt, times in seconds since the job was submitted. */
export function attemptsText(attempts: M.AttemptInfo[]): string {
  const secs = (ms: number) => (ms / 1000).toFixed(1).padStart(7);
  const rows = attempts.map((a) => [
    `${a.kind} ${a.task}`.padEnd(10), a.tracker_id.padEnd(12), secs(a.start_ms), a.end_ms ? secs(a.end_ms) : '      -',
    `${a.outcome}${readText(a)}${a.error ? `: ${escapeControls(a.error).replace(/\n/g, ' ')}` : ''}`,
  ].join('  '));
  return ['task        tracker        start      end  outcome', ...rows].join('\n');
}

/** Where an attempt's input came from: its own tracker, and how much from others. */
function readText(a: M.AttemptInfo): string {
  const what = [a.local_read ? 'local read' : '', a.fetched_bytes ? `fetched ${formatBytes(a.fetched_bytes)}` : ''].filter(Boolean);
  return what.length ? ` (${what.join(', ')})` : '';
}
