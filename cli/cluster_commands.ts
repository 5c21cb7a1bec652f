/** `bftmr cluster start|stop|status|trackers`. */
import type { Command } from 'commander';
import { kTaskTrackerDefaults, kClusterDefaults } from '../lib/options.ts';
import { kBusyAuditSlowdown } from '../jobtracker/core/replication.ts';
import { FAULT_MODES } from '../tasktracker/faults.ts';
import { checkFaultOptions, wholeNumber } from './args.ts';
import {
  authorityOf, clusterStatus, findCluster, issueInto, isWildcard, jobTrackerRuns, readState, refuseRemote, startCluster, stopCluster, alive, writeClientHome,
} from './cluster_launcher.ts';
import { ROLES, holdsCredentials, type Role } from '../lib/identity.ts';
import { isLoopback } from '../lib/hosts.ts';
import path from 'node:path';
import { homeOf } from './context.ts';
import { BftmrError } from '../lib/errors.ts';
import { onStopSignals } from '../lib/signals.ts';
import { countOf, formatBytes, ProgressLine } from './progress.ts';
import { RpcClient } from '../lib/rpc.ts';
import type * as M from '../lib/messages.ts';

/** `cluster decommission` and `recommission`; with `wait`, until the tracker may be stopped. */
async function decommission(cmd: Command, trackerId: string, on: boolean, wait: boolean): Promise<void> {
  const state = await findCluster(homeOf(cmd));
  const jt = new RpcClient('JobTracker', state.jobTracker.address);
  const line = new ProgressLine();
  try {
    const was = (await clusterStatus(state.jobTracker.address)).trackers.find((x) => x.tracker_id === trackerId);
    await jt.call<M.DecommissionRequest, M.Empty>('Decommission', { tracker_id: trackerId, on }, kClusterDefaults.rpcDeadlineMs);
    console.log(on ? `${trackerId} is being decommissioned` : was?.decommissioning ? `${trackerId} is in service again` : `${trackerId} was not being decommissioned`);
    let warned = false;
    for (let t: M.TrackerInfo | undefined; wait;) {
      t = (await clusterStatus(state.jobTracker.address)).trackers.find((x) => x.tracker_id === trackerId);
      if (!t || !t.decommissioning) throw new BftmrError('JOB_BAD_ARGUMENT', `${trackerId} is no longer being decommissioned`);
      if (!t.decommission_left) break;
      if (!t.alive && !warned) {
        warned = true;
        line.done();
        process.stderr.write(`bftmr: ${trackerId} is dead: while dfs fsck shows blocks MISSING, its disk may hold them. ` +
          `Start it again so it hands them over; do not wipe it\n`);
      }
      if (t.decommission_stuck && !warned) {
        warned = true;
        line.done();
        const them = t.decommission_stuck === 1 ? '1 of its blocks wants' : `${t.decommission_stuck} of its blocks want`;
        process.stderr.write(`bftmr: ${them} more copies than the other trackers in service can hold: ` +
          `it cannot leave until another tracker joins or their replication is lowered (dfs setrep)\n`);
      }
      line.update(`${trackerId}: waiting for ${t.decommission_left} blocks, jobs and writes that need it`);
      await new Promise((r) => setTimeout(r, 500));
    }
    line.done();
    if (wait) console.log(`${trackerId} is decommissioned: it may be stopped`);
  } finally {
    line.done();
    jt.close();
  }
}

export function registerCluster(program: Command): void {
  const cluster = program.command('cluster').description('start, stop and inspect a local multi-process cluster');

  cluster.command('start')
    .description('start a job tracker and task trackers in the background; returns when all are up')
    .option('--trackers <n>', 'number of task trackers', wholeNumber(1, 64), kClusterDefaults.trackers)
    .option('--slots <n>', `task slots per tracker (default ${kTaskTrackerDefaults.slots}: this host's cores, at most 4)`, wholeNumber(1, 256))
    .option('--task-memory-mb <mb>', `heap cap of one task worker (default ${kTaskTrackerDefaults.taskMemoryMb})`, wholeNumber(64))
    .option('--faulty <k>', 'give the fault mode to this many trackers', wholeNumber(0), 0)
    .option('--fault <mode>', `fault mode for --faulty trackers: ${FAULT_MODES.join(', ')}`)
    .option('--late-floor-ms <ms>', 'an attempt is never judged late before this long', wholeNumber(0))
    .option('--deadline-floor-ms <ms>', 'a tracker never misses an attempt\'s deadline before this long (default 30000)', wholeNumber(0))
    .option('--expiry-ms <ms>', 'declare a task tracker dead after this long without a heartbeat', wholeNumber(100))
    .option('--dfs-audit-ms <ms>', `the job tracker audits one random dfs replica per this interval, ${kBusyAuditSlowdown} times less often while jobs run (0: never)`, wholeNumber(0))
    .option('--blacklist-after <n>', 'stop using a tracker with more verdicts than this (default 2)', wholeNumber(0))
    .option('--job-history <n>', 'finished jobs the job tracker keeps (default 1000); the oldest beyond are forgotten', wholeNumber(1))
    .option('--write-lease-ms <ms>', 'a put\'s lease lapses after this long without renewal (default 60000); then blocks of it no file lists are collected', wholeNumber(1000))
    .option('--job-code-keep-ms <ms>', 'a job\'s code stays in the dfs this long after the last job that ran it ended (default 600000)', wholeNumber(0))
    .option('--block-report-ms <ms>', 'each tracker reports every dfs block it holds this often (default 300000)', wholeNumber(100))
    .option('--listen <host>', 'the address every daemon listens on (default 127.0.0.1: this host only); 0.0.0.0 lets task trackers on other hosts join')
    .option('--advertise-host <host>', 'the name other hosts reach this host\'s daemons by (default: the --listen address, or this host\'s name for 0.0.0.0)')
    .option('--jobtracker-port <port>', 'the job tracker\'s port, for task trackers on other hosts to name (default: any free one)', wholeNumber(1, 65535))
    .action(async (o, cmd: Command) => {
      checkFaultOptions(o);
      const home = homeOf(cmd);
      // Ctrl-C while the daemons start kills those started: nothing runs that `cluster stop` cannot see.
      const abort = new AbortController();
      const onSignal = () => abort.abort();
      const offSignals = onStopSignals(onSignal); // a second Ctrl-C must not kill the CLI before it has killed the daemons
      const state = await startCluster(home, {
        signal: abort.signal,
        trackers: o.trackers, slots: o.slots, taskMemoryMb: o.taskMemoryMb, faulty: o.faulty, fault: o.fault, lateFloorMs: o.lateFloorMs, deadlineFloorMs: o.deadlineFloorMs, detached: true,
        trackerExpiryMs: o.expiryMs, dfsAuditIntervalMs: o.dfsAuditMs, blacklistAfterVerdicts: o.blacklistAfter, jobHistory: o.jobHistory,
        writeLeaseMs: o.writeLeaseMs, blockReportMs: o.blockReportMs, jobCodeKeepMs: o.jobCodeKeepMs,
        listenHost: o.listen, advertiseHost: o.advertiseHost, jobTrackerPort: o.jobtrackerPort,
        onProgress: (l) => process.stderr.isTTY && process.stderr.write(`${l}...\n`),
      }).finally(offSignals);
      const elsewhere = state.jobTracker.advertised ? ` (other hosts: ${state.jobTracker.advertised})` : '';
      console.log(`cluster running: job tracker at ${state.jobTracker.address}${elsewhere}, ${countOf(state.trackers.length, 'task tracker')} (home ${home})`);
    });

  cluster.command('stop')
    .description('stop every process of the cluster')
    .action(async (_o, cmd: Command) => {
      const home = homeOf(cmd);
      const state = await readState(home);
      refuseRemote(state, 'stop it on its own host');
      // (A job tracker started again by hand is found at its address: it is stopped too.)
      if (!state || !((await jobTrackerRuns(state)) || state.trackers.map((t) => t.pid).some(alive))) {
        throw new BftmrError('CLUSTER_NOT_RUNNING', `no cluster is running in ${home}`);
      }
      await stopCluster(state);
      console.log(`cluster in ${home} stopped`);
    });

  cluster.command('credentials')
    .description('issue a certificate of this cluster\'s CA for another node (e.g. a task tracker on another host: copy DIR there and pass --tls-dir DIR)')
    .requiredOption('--name <name>', 'the node\'s name: a task tracker\'s id, or a client\'s name')
    .requiredOption('--out <dir>', 'directory to write ca.crt, node.crt and node.key into (with --jobtracker: a home, with them in client/tls)')
    .option('--role <role>', `one of ${ROLES.join(', ')} (a client uses the dfs and runs jobs; an admin also decommissions trackers and starts or stops the balancer)`, 'tasktracker')
    .option('--jobtracker <host:port>', 'with --role client or admin: make DIR a home for the CLI on another host (`bftmr --home DIR ...` there uses this cluster), ' +
      'its job tracker reached at HOST:PORT (start the cluster with --listen 0.0.0.0 --jobtracker-port PORT)')
    .action(async (o, cmd: Command) => {
      if (!ROLES.includes(o.role)) throw new BftmrError('JOB_BAD_ARGUMENT', `--role must be one of ${ROLES.join(', ')}`);
      const home = homeOf(cmd);
      const state = await readState(home);
      refuseRemote(state, 'certificates are issued with the cluster\'s CA, on its own host');
      if (o.jobtracker !== undefined) {
        if (o.role !== 'client' && o.role !== 'admin') throw new BftmrError('JOB_BAD_ARGUMENT', '--jobtracker makes a client\'s home: it goes with --role client or admin');
        const port = Number(o.jobtracker.split(':').pop());
        if (!/^[^\s/:]+:\d{1,5}$|^\[[0-9a-fA-F:.]+\]:\d{1,5}$/.test(o.jobtracker) || port < 1 || port > 65535) {
          throw new BftmrError('JOB_BAD_ARGUMENT', `--jobtracker takes HOST:PORT, not ${o.jobtracker}`);
        }
        const host = o.jobtracker.slice(0, o.jobtracker.lastIndexOf(':'));
        if (isWildcard(host)) {
          throw new BftmrError('JOB_BAD_ARGUMENT', `--jobtracker ${o.jobtracker}: ${host} is where the job tracker listens, not an address to reach it at; ` +
            'name this host as the other host knows it (`cluster start` and `cluster status` show it)');
        }
        const listens = state?.jobTracker.address.slice(0, state.jobTracker.address.lastIndexOf(':'));
        if (listens && isLoopback(listens) && !state!.jobTracker.advertised) {
          process.stderr.write(`bftmr: warning: the cluster in ${home} listens on ${listens} only: ` +
            'no other host can reach it (start it with --listen 0.0.0.0)\n');
        } else if (isLoopback(host)) {
          process.stderr.write(`bftmr: warning: ${host} is this host itself: the home works only here\n`);
        }
        const dir = path.resolve(o.out);
        await writeClientHome(await authorityOf(home, false), o.role, o.name, dir, o.jobtracker);
        console.log(`issued a${o.role === 'admin' ? 'n admin' : ' client'} certificate for ${o.name} into ${dir} (CA of ${home}); on another host, \`bftmr --home DIR ...\` ` +
          `with a copy of it there uses the cluster whose job tracker is at ${o.jobtracker}`);
        return;
      }
      if (o.role === 'tasktracker') {
        // A tracker's name is its identity: a second certificate for a live one lets another process pass for it.
        const running = await findCluster(home).catch(() => undefined);
        const st = running && (await clusterStatus(running.jobTracker.address).catch(() => undefined));
        const live = st?.trackers.find((t) => t.tracker_id === o.name && t.alive);
        if (live) throw new BftmrError('JOB_BAD_ARGUMENT', `${o.name} is a live task tracker of this cluster (${live.address}): another with its name would pass for it`);
      }
      // Another node's identity there (a tracker's own tls directory, say) is not replaced.
      if (holdsCredentials(path.resolve(o.out))) throw new BftmrError('DFS_EXISTS', `${path.resolve(o.out)} holds a node's credentials already: issue into a new directory`);
      await issueInto(await authorityOf(home, false), o.role as Role, o.name, path.resolve(o.out));
      console.log(`issued a ${o.role} certificate for ${o.name} into ${path.resolve(o.out)} (CA of ${home})`);
    });

  const showStatus = (trackersOnly: boolean) => async (o: { json?: boolean }, cmd: Command) => {
    const state = await findCluster(homeOf(cmd));
    const st = await clusterStatus(state.jobTracker.address);
    // In id order, tracker-2 before tracker-10 (the job tracker keeps them in the order it met them).
    st.trackers.sort((a, b) => a.tracker_id.localeCompare(b.tracker_id, 'en', { numeric: true }));
    if (o.json) {
      console.log(JSON.stringify({
        home: state.home,
        // From a client's home, the address it reaches the job tracker at (its own is where it listens, on its host).
        job_tracker: { address: state.remote ? state.jobTracker.address : st.address, pid: st.pid,
          ...(state.jobTracker.advertised ? { advertised_address: state.jobTracker.advertised } : {}) },
        running_jobs: st.running_jobs,
        trackers: st.trackers.map((t) => ({
          id: t.tracker_id, address: t.address, pid: t.pid, alive: t.alive, fault: t.fault || null,
          blacklisted: t.blacklisted, slots: t.slots, running: t.running, blocks: t.blocks, stored_bytes: t.stored_bytes,
          decommissioning: !!t.decommissioning, ...(t.decommissioning ? { decommission_left: t.decommission_left } : {}), verdicts: t.verdicts,
        })),
      }));
      return;
    }
    if (!trackersOnly) {
      const where = state.remote ? `${state.jobTracker.address} (pid ${st.pid} there)` : `${state.jobTracker.advertised ?? st.address} (pid ${st.pid})`;
      console.log(`job tracker ${where}, ${st.running_jobs} running jobs, home ${state.home}`);
    }
    for (const t of st.trackers) {
      const stuck = t.decommission_stuck ? `, ${countOf(t.decommission_stuck, 'block')} ${t.decommission_stuck === 1 ? 'wants' : 'want'} more copies than the others can hold` : '';
      const leaving = !t.decommissioning ? '' : t.decommission_left ? `DECOMMISSIONING (${t.decommission_left} to wait for${stuck})` : 'DECOMMISSIONED (may be stopped)';
      const flags = [t.alive ? 'alive' : 'DEAD', t.blacklisted ? 'BLACKLISTED' : '', leaving, t.fault ? `fault=${t.fault}` : ''].filter(Boolean).join(' ');
      const held = `${countOf(t.blocks ?? 0, 'block')} (${formatBytes(t.stored_bytes ?? 0)})`;
      console.log(`  ${t.tracker_id}  ${t.address}  pid ${t.pid}  ${t.slots} slots  ${held.padStart(20)}  ${flags}`);
      if (trackersOnly) for (const v of t.verdicts) console.log(`      verdict: ${v}`);
    }
  };
  cluster.command('decommission <trackerId>')
    .description('take a task tracker out of service: it gets no new work or copies, and its dfs copies are made elsewhere, from it too')
    .option('-w, --wait', 'wait until it may be stopped: none of its blocks is short elsewhere and no running job or write needs it')
    .action((trackerId: string, o, cmd: Command) => decommission(cmd, trackerId, true, !!o.wait));
  cluster.command('recommission <trackerId>')
    .description('put a decommissioned task tracker back in service')
    .action((trackerId: string, _o, cmd: Command) => decommission(cmd, trackerId, false, false));

  cluster.command('status').description('show the job tracker and each task tracker')
    .option('--json', 'print one JSON object').action(showStatus(false));
  cluster.command('trackers').description('list task trackers with their verdicts and blacklist state')
    .option('--json', 'print one JSON object').action(showStatus(true));
}
