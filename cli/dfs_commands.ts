/** `bftmr dfs put|get|cat|ls|du|setrep|mv|rm|stat|fsck`. */
import fs from 'node:fs';
import nodePath from 'node:path';
import type { Command } from 'commander';
import { kDfsDefaults, MAX_REPLICATION, MB } from '../lib/options.ts';
import type { BalanceReply, FileInfo, FsckFile, TrackerInfo } from '../lib/messages.ts';
import { BftmrError } from '../lib/errors.ts';
import { onStopSignals } from '../lib/signals.ts';
import type { DfsClient } from '../dfs/client.ts';
import { percentage, positiveNumber, wholeNumber } from './args.ts';
import { planPut } from './put_plan.ts';
import { joinPath, normalizePath } from '../dfs/dfs_path.ts';
import { withCluster } from './context.ts';
import { onInterruptRemoveScratch } from '../lib/scratch.ts';
import { bar, countOf, escapeControls, formatBytes, ProgressLine } from './progress.ts';

function progress(label: string) {
  const line = new ProgressLine();
  const started = Date.now();
  return {
    update: (done: number, total: number | undefined) => {
      const secs = (Date.now() - started) / 1000;
      const rate = secs > 0 ? formatBytes(done / secs) + '/s' : '';
      line.update(total === undefined ? `${label} ${formatBytes(done)} ${rate}` : `${label} ${bar(done, total)} ${formatBytes(done)}/${formatBytes(total)} ${rate}`);
    },
    done: () => line.done(),
  };
}

function balanceProgress(r: BalanceReply): string {
  return `moved ${r.moved_blocks} block${r.moved_blocks === 1 ? '' : 's'} (${formatBytes(r.moved_bytes)}), ${r.moving} moving; ` +
    `fullest and emptiest of ${r.trackers} trackers ${formatBytes(r.spread_bytes)} apart (${r.threshold_percent}% of the mean allows ${formatBytes(r.allowed_bytes)})`;
}

function balanceLine(r: BalanceReply): string {
  const state = r.active ? 'running' : r.outcome ? `over, ${r.outcome}` : 'not running';
  return `balancing ${state}: ${balanceProgress(r)}${r.failed_moves ? `; ${r.failed_moves} moves failed` : ''}`;
}

/**
 * Runs `fn` on each path the patterns name, in order. As cat and rm do, a path that cannot be
 * done (no such file, no match, a non-empty directory, a bad name) is one line on stderr and exit
 * status 1, and the others are still done. Any other failure (a block no copy of which verifies)
 * stops the command there.
 */
async function eachPath(client: DfsClient, patterns: string[], fn: (p: string) => Promise<unknown>): Promise<void> {
  const skip = (e: unknown) => {
    if (!(e instanceof BftmrError && ['DFS_NOT_FOUND', 'DFS_NOT_EMPTY', 'DFS_BAD_PATH'].includes(e.code))) throw e;
    process.stderr.write(`bftmr: ${escapeControls(e.message)}\n`);
    process.exitCode = 1;
  };
  for (const pattern of patterns) {
    const paths = await client.expand([pattern]).catch((e: unknown) => { skip(e); return [] as string[]; });
    for (const p of paths) await fn(p).catch(skip);
  }
}

/** Where a replica lives, as the job tracker sees that tracker now. */
function replicaState(trackers: Map<string, TrackerInfo>, id: string): 'live' | 'dead' | 'blacklisted' | 'decommissioning' | 'unknown' {
  const t = trackers.get(id);
  return !t ? 'unknown' : !t.alive ? 'dead' : t.blacklisted ? 'blacklisted' : t.decommissioning ? 'decommissioning' : 'live';
}

/** The lines of an fsck report for one file: one line per block that is not healthy. */
function fsckLines(f: FsckFile): string[] {
  const bad = f.blocks.filter((b) => b.state !== 'HEALTHY');
  if (bad.length === 0) return [`${f.path}: ${countOf(f.blocks.length, 'block')}, replication ${f.replication}: HEALTHY`];
  return [`${f.path}: ${countOf(f.blocks.length, 'block')}, replication ${f.replication}: ${bad.length} with problems`,
    ...bad.map((b) => `  block ${b.index} (${b.digest.slice(0, 12)}) ${b.state}: ${b.live.length} of ${f.replication} live verified replicas` +
      `${b.live.length ? ` (${b.live.join(', ')})` : ''}${b.bad.length ? `, bad on ${b.bad.join(', ')}` : ''}` +
      `${b.dead.length ? `, unavailable on ${b.dead.join(', ')}` : ''}${b.repairing ? `, ${b.repairing} being copied` : ''}`)];
}

/** What a dfs path is now. */
async function kindOf(client: DfsClient, p: string): Promise<'file' | 'dir' | 'none'> {
  const st = await client.find(p);
  return !st ? 'none' : st.is_dir ? 'dir' : 'file';
}

/**
 * A recursive listing (every file below `dir`, in path order) with the directories between put in,
 * each just before its first entry: depth first, as `hdfs dfs -ls -R` shows it.
 */
export function withDirectories(dir: string, files: FileInfo[]): FileInfo[] {
  const d = normalizePath(dir);
  const base = d === '/' ? '/' : `${d}/`;
  const out: FileInfo[] = [];
  const shown = new Set<string>();
  for (const f of files) {
    if (!f.is_dir && f.path.startsWith(base)) {
      const parts = f.path.slice(base.length).split('/').slice(0, -1);
      for (let i = 1; i <= parts.length; i++) {
        const sub = base + parts.slice(0, i).join('/');
        if (shown.has(sub)) continue;
        shown.add(sub);
        out.push({ ...f, path: sub, is_dir: true, size: 0, blocks: [], replication: 0, created_ms: 0 });
      }
    }
    out.push(f);
  }
  return out;
}

function lsLine(e: FileInfo): string {
  if (e.is_dir) return `d ${''.padStart(12)}  ${''.padStart(19)}  ${e.path}/`;
  const when = new Date(e.created_ms).toISOString().slice(0, 19).replace('T', ' ');
  return `- ${String(e.size).padStart(12)}  ${when}  ${e.path}  (r${e.replication})`;
}

export function registerDfs(program: Command): void {
  const dfs = program.command('dfs').description('the replicated block store: put, get, cat, ls, du, mv, rm, stat, setrep, fsck, balance');

  dfs.command('put')
    .usage('[options] <local...> <path>')
    .description('copy local files or directories into the dfs (streams; verified replicas); into <path> if it is a directory')
    .argument('<local...>', 'local files or directories (- for standard input, streamed: a few blocks at a time wait in temporary files), then the dfs path')
    .option('--replication <n>', `copies of each block (default: ${kDfsDefaults.replication}, or the number of live nodes if fewer)`, wholeNumber(1, MAX_REPLICATION))
    .option('--block-mb <mb>', 'block size in MB', positiveNumber, kDfsDefaults.blockBytes / MB)
    .option('-f, --force', 'replace existing files')
    .action((args: string[], o, cmd: Command) => args.length < 2 ? cmd.error("error: missing required argument 'path'") : withCluster(cmd, (client) => onInterruptRemoveScratch(async () => {
      const dst = args.at(-1)!;
      const items = planPut(args.slice(0, -1), dst, await kindOf(client, dst));
      if (items.length === 0) throw new BftmrError('LOCAL_IO', `no files to copy in ${args.slice(0, -1).join(', ')}`);
      if (!o.force) {
        for (const it of items) {
          if (await client.exists(it.target)) throw new BftmrError('DFS_EXISTS', `${it.target} already exists (use --force to replace it)`);
        }
      }
      const replication = o.replication ?? Math.min(kDfsDefaults.replication, await client.liveNodes());
      const stdin = items[0]!.local === '-';
      const shown = (it: { local: string }) => (it.local === '-' ? 'standard input' : it.local);
      const total = items.reduce((n, it) => n + it.size, 0);
      const p = progress(items.length === 1 ? `put ${shown(items[0]!)}` : `put ${items.length} files`);
      let before = 0;
      try {
        for (const [k, it] of items.entries()) {
          const putOpts = {
            replication, blockBytes: Math.round(o.blockMb * MB), overwrite: !!o.force,
            // Standard input's size (a /proc file's) is known once it is read: bytes, no bar, meanwhile.
            progress: (done: number, size: number | undefined) => p.update(before + done, size === undefined ? undefined : total),
          };
          let info: FileInfo;
          try {
            info = stdin ? await client.putStream(process.stdin, it.target, putOpts) : await client.put(it.local, it.target, putOpts);
          } catch (e) {
            // Each file appears whole or not at all; the ones before it stay.
            if (k > 0 && e instanceof BftmrError) throw new BftmrError(e.code, `${shown(it)}: ${e.message} (the ${k} files before it were copied)`);
            throw e;
          }
          before += it.size;
          p.done();
          console.log(`${info.path}: ${formatBytes(info.size)} in ${countOf(info.blocks.length, 'block')}, replication ${info.replication}`);
        }
      } finally {
        p.done();
      }
    })));

  /** HDFS's dfs.client.read.shortcircuit, on unless asked (dfs/short_circuit.ts). */
  const NO_SHORT_CIRCUIT = ['--no-short-circuit', 'read every block through a storage node, also where its file is on this host'] as const;

  dfs.command('get')
    .usage('[options] <path...> <local>')
    .description('copy dfs files or directories to the local file system (every block verified); into <local> if several')
    .argument('<path...>', 'dfs paths or patterns (*, ?, [a-z], {a,b}), then the local path (-: standard output, one file)')
    .option('-f, --force', 'replace local files that exist')
    .option(...NO_SHORT_CIRCUIT)
    .action((args: string[], o, cmd: Command) => args.length < 2 ? cmd.error("error: missing required argument 'local'") : withCluster(cmd, (client) => onInterruptRemoveScratch(async () => {
      const local = args.at(-1)!;
      const sources = await client.expand(args.slice(0, -1));
      // As `put -` reads standard input: one file's bytes, each block verified before it is written
      // (dfs cat). So for /dev/stdout, whatever standard output is (a socket has no path to open).
      if (local === '-' || isStandardOutput(local)) {
        if (sources.length > 1) throw new BftmrError('JOB_BAD_ARGUMENT', `${local} (standard output) takes one file, not ${sources.length} paths`);
        await client.cat(sources[0]!, process.stdout);
        return;
      }
      if (sources.length > 1) {
        if (fs.existsSync(local) && !fs.statSync(local).isDirectory()) throw new BftmrError('LOCAL_IO', `${local} is not a directory, and ${sources.length} paths go into it`);
        // Each goes into <local> under its own name: two of one name would overwrite each other.
        const byName = new Map<string, string>();
        for (const src of sources) {
          const name = src.slice(src.lastIndexOf('/') + 1);
          const other = byName.get(name);
          if (other) throw new BftmrError('LOCAL_IO', `${other} and ${src} would both go to ${nodePath.join(local, name)}; get them one at a time`);
          byName.set(name, src);
        }
        // Nothing is written unless every source exists and can go where it would (in a new directory, all can).
        for (const src of sources) await client.get(src, local, undefined, !!o.force, true);
        fs.mkdirSync(local, { recursive: true });
      }
      for (const src of sources) {
        const p = progress(`get ${src}`);
        try {
          const files = await client.get(src, local, p.update, !!o.force);
          p.done();
          for (const f of files) console.log(f);
        } finally { p.done(); }
      }
    }), { shortCircuit: o.shortCircuit }));

  dfs.command('cat <path...>')
    .description('write dfs files to standard output, one after another (each block verified before it is written)')
    .option(...NO_SHORT_CIRCUIT)
    .action((paths: string[], o, cmd: Command) => withCluster(cmd, async (client) => {
      await eachPath(client, paths, (p) => client.cat(p, process.stdout));
    }, { shortCircuit: o.shortCircuit }));

  dfs.command('ls [path...]')
    .description('list directories (and files), by path or pattern')
    .option('-R, --recursive', 'every file and directory below them, depth first')
    .option('--json', 'print one JSON array of the entries')
    .action((paths: string[], o, cmd: Command) => withCluster(cmd, async (client) => {
      const all: FileInfo[] = [];
      await eachPath(client, paths.length ? paths : ['/'], async (p) => {
        const entries = await client.list(p, !!o.recursive);
        for (const e of o.recursive ? withDirectories(p, entries) : entries) {
          if (o.json) all.push(e);
          else console.log(lsLine(e));
        }
      });
      if (o.json) {
        console.log(JSON.stringify(all.map((e) => ({ path: e.path, is_dir: e.is_dir, size: Number(e.size), replication: e.replication, created_ms: Number(e.created_ms) }))));
      }
    }));

  dfs.command('du [path...]')
    .description('bytes at or below each path: its files\' size, and the space all their copies take, a block several files share counted once (one line per entry of a directory)')
    .option('-s, --summary', 'one line for each path itself')
    .option('-h, --human', 'sizes in KB, MB, GB')
    .option('--json', 'print one JSON array: path, bytes, and the bytes all copies take')
    .action((paths: string[], o, cmd: Command) => withCluster(cmd, async (client) => {
      // Blocks are shared by content: as du counts a hard-linked file once, the copies column counts
      // a block once per line, at the most copies any of its files there wants.
      const totals = new Map<string, { size: number; blocks: Map<string, number> }>();
      // As ls does: a path that is not there is one line on stderr (exit 1), and the others are shown.
      await eachPath(client, paths.length ? paths : ['/'], async (at) => {
        const files = (await client.list(at, true)).filter((e) => !e.is_dir);
        // A file lists as itself; anything below a directory has a longer path.
        const isDir = !(files.length === 1 && files[0]!.path === at);
        // Each file counts towards the entry of `at` it lies under (or `at` itself).
        const entryOf = (f: string) => !isDir || o.summary ? at : joinPath(at, f.slice(at === '/' ? 1 : at.length + 1).split('/')[0]!);
        if (o.summary || !isDir) totals.set(at, { size: 0, blocks: new Map() });
        for (const f of files) {
          const e = entryOf(f.path);
          const t = totals.get(e) ?? { size: 0, blocks: new Map() };
          t.size += Number(f.size);
          for (const b of f.blocks) t.blocks.set(b.digest, Math.max(t.blocks.get(b.digest) ?? 0, Number(b.size) * f.replication));
          totals.set(e, t);
        }
      });
      const raw = (t: { blocks: Map<string, number> }) => [...t.blocks.values()].reduce((a, b) => a + b, 0);
      if (o.json) { console.log(JSON.stringify([...totals].map(([e, t]) => ({ path: e, bytes: t.size, with_copies: raw(t) })))); return; }
      const show = (n: number) => (o.human ? formatBytes(n) : String(n));
      const rows = [...totals].map(([e, t]) => [show(t.size), show(raw(t)), e] as const);
      const w0 = Math.max(0, ...rows.map((r) => r[0].length));
      const w1 = Math.max(0, ...rows.map((r) => r[1].length));
      for (const [size, raw, e] of rows) console.log(`${size.padStart(w0)}  ${raw.padStart(w1)}  ${e}`);
    }));

  dfs.command('setrep')
    .description('set the replication of a file, or of every file below a directory; copies are made or deleted in the background')
    .argument('<rep>', 'the replication: copies each block keeps', wholeNumber(1, MAX_REPLICATION))
    .argument('<path>', 'a dfs file or directory')
    .option('-w, --wait', 'wait until every block has exactly its new number of copies')
    .action((replication: number, path: string, o, cmd: Command) => withCluster(cmd, async (client) => {
      const n = await client.setReplication(path, replication);
      console.log(n ? `replication of ${n} file${n === 1 ? '' : 's'} set to ${replication}` : `every file at or below ${path} has replication ${replication} already`);
      if (!o.wait) return;
      const line = new ProgressLine();
      try {
        for (;;) {
          // Nodes may die meanwhile: waiting for more copies than there are nodes would never end.
          const live = await client.liveNodes();
          if (live < replication) {
            throw new BftmrError('DFS_TOO_FEW_NODES', `only ${live} live storage nodes are left, fewer than ${replication} copies: ` +
              `the copies are made when nodes join (replication stays ${replication}; dfs fsck shows the blocks short)`);
          }
          const blocks = (await client.fsck(path)).flatMap((f) => f.blocks);
          const done = blocks.filter((b) => b.state === 'HEALTHY' && b.live.length === b.wanted).length;
          if (done === blocks.length) break;
          line.update(`copies of ${path}: ${bar(done, blocks.length)} ${done}/${blocks.length} blocks at their replication`);
          await new Promise((r) => setTimeout(r, 500));
        }
      } finally {
        line.done();
      }
      console.log(`every block of ${path} has its copies`);
    }));

  dfs.command('balance')
    .description('even out the bytes each task tracker holds (HDFS\'s balancer): copies move from the fullest trackers to the emptiest, ' +
      'each made and verified before the old one goes; waits until done (Ctrl-C stops it)')
    .option('-t, --threshold <percent>', 'done when every usable tracker holds within this % of their mean', percentage, 10)
    .option('--no-wait', 'start it and return')
    .option('--status', 'show how the current or last run goes, and return')
    .option('--stop', 'stop the current run (moves under way finish)')
    .option('--json', 'print the final state as one JSON object')
    .action((o, cmd: Command) => withCluster(cmd, async (client) => {
      const show = (r: BalanceReply) => { if (o.json) console.log(JSON.stringify(r)); else console.log(balanceLine(r)); };
      if (o.stop && !(await client.balance('STATUS')).active) {
        throw new BftmrError('JOB_BAD_ARGUMENT', 'no balancing is running (dfs balance --status shows the last run)');
      }
      if (o.status || o.stop) { show(await client.balance(o.stop ? 'STOP' : 'STATUS')); return; }
      let r = await client.balance('START', o.threshold);
      if (!o.wait) { show(r); return; }
      const line = new ProgressLine();
      // The run belongs to this command, as HDFS's balancer is a process: interrupting it stops the run.
      let interrupted = false;
      const offSignals = onStopSignals(() => { interrupted = true; });
      try {
        while (r.active && !interrupted) {
          line.update(`balancing: ${balanceProgress(r)}`);
          await new Promise((res) => setTimeout(res, 500));
          r = await client.balance('STATUS');
        }
        if (interrupted) r = await client.balance('STOP');
      } finally {
        offSignals();
        line.done();
      }
      show(r);
      if (interrupted) process.exitCode = 130;
      else if (!r.outcome) throw new BftmrError('UNAVAILABLE', 'the job tracker restarted and the run with it; run `bftmr dfs balance` again');
      else if (r.outcome.startsWith('stuck')) process.exitCode = 1;
    }));

  dfs.command('mv <src> <dst>')
    .description('move a file or a directory (into <dst> if it is a directory); nothing is replaced, no block is copied')
    .action((src: string, dst: string, o, cmd: Command) => withCluster(cmd, async (client) => {
      const r = await client.mv(src, dst);
      console.log(`moved ${r.files_moved} file${r.files_moved === 1 ? '' : 's'} to ${r.path}`);
    }));

  dfs.command('rm <path...>')
    .description('delete files, or directories with -r, by path or pattern')
    .option('-r, --recursive', 'delete directories and everything below them')
    .action((paths: string[], o, cmd: Command) => withCluster(cmd, async (client) => {
      let n = 0;
      await eachPath(client, paths, async (p) => { n += await client.rm(p, !!o.recursive); });
      // A refusal (a directory without -r, a path not there) is its own line on stderr; "deleted 0" would only blur it.
      if (n > 0 || !process.exitCode) console.log(`deleted ${countOf(n, 'file')}`);
    }));

  dfs.command('stat <path>')
    .description('a file\'s blocks, their digests, and where each replica lives')
    .option('--json', 'print one JSON object')
    .action((path: string, o, cmd: Command) => withCluster(cmd, async (client) => {
      const info = await client.stat(path);
      const trackers = await client.trackers();
      const blocks = info.blocks.map((b) => ({ ...b, replicas: b.replicas.map((r) => ({ ...r, state: replicaState(trackers, r.tracker_id) })) }));
      if (o.json) { console.log(JSON.stringify({ ...info, blocks })); return; }
      if (info.is_dir) { console.log(`${info.path}/: directory`); return; }
      console.log(`${info.path}: ${info.size} bytes, ${countOf(info.blocks.length, 'block')}, replication ${info.replication}`);
      for (const [i, b] of blocks.entries()) {
        console.log(`  block ${i}: sha256 ${b.digest} ${b.size} bytes  replicas: ${b.replicas.map((r) => `${r.tracker_id}@${r.address} (${r.state})`).join(', ') || 'none'}`);
      }
    }));

  dfs.command('fsck [path]')
    .description('check the blocks of every file at or below a path: under-replicated, corrupt or missing (exit 1 if any)')
    .option('--json', 'print one JSON object')
    .action((path: string | undefined, o, cmd: Command) => withCluster(cmd, async (client) => {
      const files = await client.fsck(path ?? '/');
      const blocks = files.flatMap((f) => f.blocks);
      const count = (state: string) => blocks.filter((b) => b.state === state).length;
      const summary = {
        files: files.length, blocks: blocks.length, healthy: count('HEALTHY'), under_replicated: count('UNDER_REPLICATED'),
        corrupt: count('CORRUPT'), missing: count('MISSING'),
      };
      const healthy = summary.healthy === summary.blocks;
      if (o.json) console.log(JSON.stringify({ path: path ?? '/', healthy, summary, files }));
      else {
        for (const f of files) for (const line of fsckLines(f)) console.log(line);
        console.log(`${healthy ? 'HEALTHY' : 'NOT HEALTHY'}: ${countOf(summary.files, 'file')}, ${countOf(summary.blocks, 'block')}: ${summary.healthy} healthy, ` +
          `${summary.under_replicated} under-replicated, ${summary.corrupt} corrupt, ${summary.missing} missing`);
      }
      if (!healthy) process.exitCode = 1;
    }));
}

/** Whether `local` is this process's standard output (/dev/stdout, /dev/fd/1, or the file it writes to). */
function isStandardOutput(local: string): boolean {
  try {
    const [a, b] = [fs.fstatSync(1), fs.statSync(local)];
    return a.dev === b.dev && a.ino === b.ino;
  } catch {
    return false;
  }
}
