/** `bftmr dfs put|get|cat|ls|rm|stat|fsck`. */
import type { Command } from 'commander';
import { kDfsDefaults, MB } from '../lib/options.ts';
import type { FileInfo, FsckFile, TrackerInfo } from '../lib/messages.ts';
import { positiveNumber, wholeNumber } from './args.ts';
import { withCluster } from './context.ts';
import { bar, formatBytes, ProgressLine } from './progress.ts';

function progress(label: string) {
  const line = new ProgressLine();
  const started = Date.now();
  return {
    update: (done: number, total: number) => {
      const secs = (Date.now() - started) / 1000;
      line.update(`${label} ${bar(done, total)} ${formatBytes(done)}/${formatBytes(total)} ${secs > 0 ? formatBytes(done / secs) + '/s' : ''}`);
    },
    done: () => line.done(),
  };
}

/** Where a replica lives, as the job tracker sees that tracker now. */
function replicaState(trackers: Map<string, TrackerInfo>, id: string): 'live' | 'dead' | 'blacklisted' | 'unknown' {
  const t = trackers.get(id);
  return !t ? 'unknown' : !t.alive ? 'dead' : t.blacklisted ? 'blacklisted' : 'live';
}

/** The lines of an fsck report for one file: one line per block that is not healthy. */
function fsckLines(f: FsckFile): string[] {
  const bad = f.blocks.filter((b) => b.state !== 'HEALTHY');
  if (bad.length === 0) return [`${f.path}: ${f.blocks.length} blocks, replication ${f.replication}: HEALTHY`];
  return [`${f.path}: ${f.blocks.length} blocks, replication ${f.replication}: ${bad.length} with problems`,
    ...bad.map((b) => `  block ${b.index} (${b.digest.slice(0, 12)}) ${b.state}: ${b.live.length} of ${f.replication} live verified replicas` +
      `${b.live.length ? ` (${b.live.join(', ')})` : ''}${b.bad.length ? `, bad on ${b.bad.join(', ')}` : ''}` +
      `${b.dead.length ? `, unavailable on ${b.dead.join(', ')}` : ''}${b.repairing ? `, ${b.repairing} being copied` : ''}`)];
}

function lsLine(e: FileInfo): string {
  if (e.is_dir) return `d ${''.padStart(12)}  ${''.padStart(19)}  ${e.path}/`;
  const when = new Date(e.created_ms).toISOString().slice(0, 19).replace('T', ' ');
  return `- ${String(e.size).padStart(12)}  ${when}  ${e.path}  (r${e.replication})`;
}

export function registerDfs(program: Command): void {
  const dfs = program.command('dfs').description('the replicated block store: put, get, cat, ls, mv, rm, stat, setrep, fsck');

  dfs.command('put <local> <path>')
    .description('copy a local file into the dfs (streams; verified replicas)')
    .option('--replication <n>', `copies of each block (default: ${kDfsDefaults.replication}, or the number of live nodes if fewer)`, wholeNumber(1, 64))
    .option('--block-mb <mb>', 'block size in MB', positiveNumber, kDfsDefaults.blockBytes / MB)
    .option('-f, --force', 'replace an existing file')
    .action((local: string, path: string, o, cmd: Command) => withCluster(cmd, async (client) => {
      const p = progress(`put ${local}`);
      try {
        const replication = o.replication ?? Math.min(kDfsDefaults.replication, await client.liveNodes());
        const info = await client.put(local, path, {
          replication, blockBytes: Math.round(o.blockMb * MB), overwrite: !!o.force, progress: p.update,
        });
        p.done();
        console.log(`${info.path}: ${formatBytes(info.size)} in ${info.blocks.length} blocks, replication ${info.replication}`);
      } finally { p.done(); }
    }));

  dfs.command('get <path> <local>')
    .description('copy a dfs file or directory to the local file system (every block verified)')
    .action((path: string, local: string, _o, cmd: Command) => withCluster(cmd, async (client) => {
      const p = progress(`get ${path}`);
      try {
        const files = await client.get(path, local, p.update);
        p.done();
        for (const f of files) console.log(f);
      } finally { p.done(); }
    }));

  dfs.command('cat <path>')
    .description('write a dfs file to standard output (each block verified before it is written)')
    .action((path: string, _o, cmd: Command) => withCluster(cmd, (client) => client.cat(path, process.stdout)));

  dfs.command('ls [path]')
    .description('list a directory')
    .option('-R, --recursive', 'every file below it')
    .action((path: string | undefined, o, cmd: Command) => withCluster(cmd, async (client) => {
      for (const e of await client.list(path ?? '/', !!o.recursive)) console.log(lsLine(e));
    }));

  dfs.command('setrep')
    .description('set the replication of a file, or of every file below a directory; copies are made or deleted in the background')
    .argument('<replication>', 'copies each block keeps', wholeNumber(1, 1000))
    .argument('<path>', 'a dfs file or directory')
    .option('-w, --wait', 'wait until every block has exactly its new number of copies')
    .action((replication: number, path: string, o, cmd: Command) => withCluster(cmd, async (client) => {
      const n = await client.setReplication(path, replication);
      console.log(`replication of ${n} file${n === 1 ? '' : 's'} set to ${replication}`);
      if (!o.wait) return;
      const line = new ProgressLine();
      try {
        for (;;) {
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

  dfs.command('mv <src> <dst>')
    .description('move a file or a directory (into <dst> if it is a directory); nothing is replaced, no block is copied')
    .action((src: string, dst: string, o, cmd: Command) => withCluster(cmd, async (client) => {
      const r = await client.mv(src, dst);
      console.log(`moved ${r.files_moved} file${r.files_moved === 1 ? '' : 's'} to ${r.path}`);
    }));

  dfs.command('rm <path>')
    .description('delete a file, or a directory with -r')
    .option('-r, --recursive', 'delete a directory and everything below it')
    .action((path: string, o, cmd: Command) => withCluster(cmd, async (client) => {
      const n = await client.rm(path, !!o.recursive);
      console.log(`deleted ${n} file${n === 1 ? '' : 's'}`);
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
      console.log(`${info.path}: ${info.size} bytes, ${info.blocks.length} blocks, replication ${info.replication}`);
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
        console.log(`${healthy ? 'HEALTHY' : 'NOT HEALTHY'}: ${summary.files} files, ${summary.blocks} blocks: ${summary.healthy} healthy, ` +
          `${summary.under_replicated} under-replicated, ${summary.corrupt} corrupt, ${summary.missing} missing`);
      }
      if (!healthy) process.exitCode = 1;
    }));
}

