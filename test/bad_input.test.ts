/**
 * Bad input, through the real CLI: one clear line on stderr, a non-zero exit, and nothing stored
 * or running left changed.
 */
import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { bftmr, bftmrFed, corpus, ROOT, tempDir, wordCountOracle, type Result } from './helpers/cli.ts';
import { bundleJob } from '../cli/bundle.ts';
import { findCluster } from '../cli/cluster_launcher.ts';
import { submit } from '../cli/job_client.ts';
import { MAX_JOB_WAIT_MS } from '../lib/options.ts';
import type * as M from '../lib/messages.ts';
import { DfsClient } from '../dfs/client.ts';

const home = tempDir('bftmr-bad-');
const scratch = tempDir('bftmr-bad-files-');

test.before(async (t) => {
  // Job code goes as soon as its job ends: every submit here stores it again, just after it went.
  t.is((await bftmr(home, 'cluster', 'start', '--trackers', '3', '--slots', '1', '--job-code-keep-ms', '0')).code, 0);
  t.is((await bftmr(home, 'dfs', 'put', corpus(), '/in/jargon.txt')).code, 0);
  t.is((await bftmr(home, 'dfs', 'put', corpus(), '/taken/file.txt')).code, 0);
  fs.writeFileSync(path.join(scratch, 'syntax.ts'), 'export default { map(line, ctx) { ctx.emit(line, "1") ;\n');
  fs.writeFileSync(path.join(scratch, 'nomap.ts'), 'export default { reduce() {} };\n');
  // A local directory named like a dfs one: its a.txt is new there, its file.txt is taken.
  fs.mkdirSync(path.join(scratch, 'taken'));
  fs.writeFileSync(path.join(scratch, 'taken', 'a.txt'), 'new\n');
  fs.writeFileSync(path.join(scratch, 'taken', 'file.txt'), 'clash\n');
});

test.after.always(async () => {
  await bftmr(home, 'cluster', 'stop');
});

/** The paths `dfs ls -R` lists: directories (ending in /) and files. */
const names = async (...p: string[]) => (await bftmr(home, 'dfs', 'ls', '-R', ...p)).stdout.split('\n').filter(Boolean)
  .map((l) => (l.startsWith('d ') ? l.split(/\s+/).at(-1) : l.split(/\s+/).at(-2)));
const listing = async () => (await bftmr(home, 'dfs', 'ls', '-R', '/')).stdout;
const jobs = async () => (await bftmr(home, 'job', 'list', '--json')).stdout;

function refused(t: any, r: Result, pattern: RegExp): void {
  t.not(r.code, 0);
  const lines = r.stderr.split('\n').filter((l) => l && !l.startsWith('(add --help'));
  t.is(lines.length, 1, r.stderr);
  t.regex(lines[0]!, pattern);
  t.notRegex(r.stderr, /\n\s+at /); // no stack trace
  t.is(r.stdout, '', 'a refusal prints nothing else');
}

const cases: [string, string[], RegExp][] = [
  ['a missing input path', ['job', 'submit', 'jobs/word_count.ts', '--input', '/nope', '--output', '/o'], /input \/nope does not exist/],
  ['an output path that exists', ['job', 'submit', 'jobs/word_count.ts', '--input', '/in', '--output', '/taken'], /output \/taken already exists/],
  ['an output path below a file', ['job', 'submit', 'jobs/word_count.ts', '--input', '/in', '--output', '/taken/file.txt/out'], /^bftmr: output \/taken\/file\.txt\/out: \/taken\/file\.txt is a file$/],
  ['a module that does not compile', ['job', 'submit', path.join(scratch, 'syntax.ts'), '--input', '/in', '--output', '/o'], /does not compile: \/.*syntax\.ts:2:\d+: (Expected "}"|Unexpected end of file)/],
  ['a module without map', ['job', 'submit', path.join(scratch, 'nomap.ts'), '--input', '/in', '--output', '/o'], /not a bftmr job: the default export has no map function/],
  ['a module that does not exist', ['job', 'submit', path.join(scratch, 'nothere.ts'), '--input', '/in', '--output', '/o'], /does not exist/],
  ['a non-numeric --f', ['job', 'submit', 'jobs/word_count.ts', '--input', '/in', '--output', '/o', '--f', 'abc'], /'abc' is not a whole number/],
  ['--f too large for the cluster', ['job', 'submit', 'jobs/word_count.ts', '--input', '/in', '--output', '/o', '--f', '2'], /f=2 needs at least 2f\+1=5 live task trackers, and the cluster has 3/],
  ['run: --f too large for --trackers', ['run', 'jobs/word_count.ts', '--input', 'README.md', '--output', path.join(scratch, 'o'), '--f', '2'], /f=2 needs at least 2f\+1=5 task trackers/],
  ['run: --home (it starts a cluster of its own)', ['--home', path.join(scratch, 'h'), 'run', 'jobs/word_count.ts', '--input', 'README.md', '--output', path.join(scratch, 'o')],
    /^bftmr: run starts a throw-away cluster of its own, .*`bftmr --home DIR job submit` runs a job there$/],
  ['run: a missing local input', ['run', 'jobs/word_count.ts', '--input', path.join(scratch, 'none.txt'), '--output', path.join(scratch, 'o')], /input .*none\.txt does not exist/],
  ['run: --fault without --faulty', ['run', 'jobs/word_count.ts', '--input', 'README.md', '--output', path.join(scratch, 'o'), '--fault', 'crash'], /^bftmr: --fault needs --faulty K: how many trackers get it$/],
  ['run: a local output that exists', ['run', 'jobs/word_count.ts', '--input', 'README.md', '--output', scratch], /already exists/],
  ['run: a local output below a file', ['run', 'jobs/word_count.ts', '--input', 'README.md', '--output', path.join(scratch, 'taken', 'a.txt', 'o')], /^bftmr: output .*a\.txt\/o: .*taken\/a\.txt is not a directory$/],
  ['dfs put onto an existing path', ['dfs', 'put', 'README.md', '/in/jargon.txt'], /already exists \(use --force/],
  ['dfs put of an unreadable file', ['dfs', 'put', path.join(scratch, 'none.txt'), '/x'], /cannot read .*none\.txt: no such file or directory$/],
  ['replication above the live nodes', ['dfs', 'put', 'README.md', '/r5', '--replication', '5'], /replication 5 needs 5 live storage nodes, and 3 are available/],
  ['dfs put of a directory onto a file', ['dfs', 'put', scratch, '/taken/file.txt'], /^bftmr: \/taken\/file\.txt is a file, not a directory$/],
  ['dfs put of two sources with one name', ['dfs', 'put', 'README.md', 'README.md', '/two'], /README\.md and README\.md would both be \/two\/README\.md$/],
  ['dfs put of a directory with a file that exists, before any is copied', ['dfs', 'put', path.join(scratch, 'taken'), '/'],
    /^bftmr: \/taken\/file\.txt already exists \(use --force to replace it\)$/],
  ['a cache file that does not exist', ['job', 'submit', 'jobs/word_count.ts', '--input', '/in', '--output', '/o', '--cache-file', '/nope.txt'], /^bftmr: cache file \/nope\.txt does not exist$/],
  ['a cache file that is a directory', ['job', 'submit', 'jobs/word_count.ts', '--input', '/in', '--output', '/o', '--cache-file', '/in'], /^bftmr: cache file \/in is a directory, not a file$/],
  ['run: a cache file that is not a local file', ['run', 'jobs/word_count.ts', '--input', 'README.md', '--output', path.join(scratch, 'o'), '--cache-file', scratch], /^bftmr: cache file .* is not a local file$/],
  ['a dfs path with ..', ['dfs', 'put', 'README.md', '/in/../x'], /may not contain '\.\.'/],
  ['rm of a non-empty directory without -r', ['dfs', 'rm', '/in'], /non-empty directory \(use -r/],
  ['rm -r of the root', ['dfs', 'rm', '-r', '/'], /^bftmr: cannot delete the root directory \/$/],
  ['get onto a local file that exists', ['dfs', 'get', '/in/jargon.txt', path.join(scratch, 'taken', 'file.txt')], /file\.txt already exists \(use -f to replace it\)$/],
  ['get of a path that does not exist', ['dfs', 'get', '/missing', path.join(scratch, 'm')], /\/missing: no such file or directory/],
  ['fsck of a path that does not exist', ['dfs', 'fsck', '/missing'], /^bftmr: \/missing: no such file or directory$/],
  ['fsck of a relative path', ['dfs', 'fsck', 'in'], /dfs path "in" must be absolute/],
  ['mv of a path that does not exist', ['dfs', 'mv', '/missing', '/m'], /^bftmr: \/missing: no such file or directory$/],
  ['mv onto an existing file', ['dfs', 'mv', '/in/jargon.txt', '/taken/file.txt'], /^bftmr: \/taken\/file\.txt already exists$/],
  ['mv of a directory into itself', ['dfs', 'mv', '/in', '/in/deeper'], /^bftmr: cannot move \/in into itself \(\/in\/deeper\)$/],
  ['kill of a job that does not exist', ['job', 'kill', 'job_nope'], /^bftmr: no job job_nope$/],
  ['setrep above the live nodes', ['dfs', 'setrep', '5', '/in'], /^bftmr: replication 5 needs 5 live storage nodes, and 3 are available$/],
  ['setrep of a path that does not exist', ['dfs', 'setrep', '2', '/missing'], /^bftmr: \/missing: no such file or directory$/],
  ['setrep 0', ['dfs', 'setrep', '0', '/in'], /0 is out of range \(1\.\.512\)/],
];

for (const [name, args, pattern] of cases) {
  test.serial(`refused: ${name}`, async (t) => {
    const [before, jobsBefore] = [await listing(), await jobs()];
    refused(t, await bftmr(home, ...args), pattern);
    t.is(await listing(), before, 'the dfs is unchanged');
    t.is(await jobs(), jobsBefore, 'no job was started');
  });
}

test('no cluster running', async (t) => {
  const empty = tempDir('bftmr-none-');
  refused(t, await bftmr(empty, 'job', 'submit', 'jobs/word_count.ts', '--input', '/in', '--output', '/o'), /no cluster is running in .* \(start one with: bftmr cluster start\)/);
  refused(t, await bftmr(empty, 'dfs', 'ls', '/'), /no cluster is running/);
  t.false(fs.existsSync(path.join(empty, 'cluster.json')));
});

/**
 * The CLI with its own environment (not BFTMR_HOME=home), working directory, standard output (a
 * file descriptor) and standard input (`input`, then closed; none if not given).
 */
function bftmrIn(o: { env?: NodeJS.ProcessEnv; cwd?: string; stdout?: number; input?: string | Buffer }, ...args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/bftmr.js'), ...args], {
      cwd: o.cwd ?? ROOT, env: o.env ?? { ...process.env, BFTMR_HOME: home }, stdio: [o.input === undefined ? 'ignore' : 'pipe', o.stdout ?? 'pipe', 'pipe'],
    });
    if (o.input !== undefined) child.stdin!.end(o.input);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d) => { stdout += d; });
    child.stderr!.on('data', (d) => { stderr += d; });
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

test('a write error on standard output other than EPIPE is one line and exit status 1, not a stack trace', async (t) => {
  const full = fs.openSync('/dev/full', 'w');
  try {
    // A file of several blocks, and a write as small as --version's.
    for (const args of [['dfs', 'cat', '/in/jargon.txt'], ['--version']]) {
      const r = await bftmrIn({ stdout: full }, ...args);
      t.is(r.code, 1, args.join(' '));
      t.is(r.stderr, 'bftmr: cannot write standard output: no space left on the device\n', args.join(' '));
    }
  } finally {
    fs.closeSync(full);
  }
});

test('an empty --home (an unset shell variable) is refused by every command; an empty BFTMR_HOME counts as unset (~/.bftmr)', async (t) => {
  const cwd = tempDir('bftmr-empty-home-');
  const user = tempDir('bftmr-user-');
  const env = { ...process.env, HOME: user, BFTMR_HOME: undefined };
  for (const args of [['--home', '', 'cluster', 'start'], ['cluster', 'start', '--home', ''], ['--home=', 'cluster', 'status'], ['--home', '', 'dfs', 'ls', '/'],
    ['--home', '', 'job', 'list'], ['--home', '', 'cluster', 'stop'], ['--home', '', 'run', 'jobs/word_count.ts', '--input', 'README.md', '--output', 'o'],
    ['--home', '', 'tasktracker', '--jobtracker', 'localhost:1', '--dir', 'tt']]) {
    const r = await bftmrIn({ env, cwd }, ...args);
    if (r.code === 0 && args.includes('start')) await bftmrIn({ env, cwd }, '--home', cwd, 'cluster', 'stop'); // the bug: a cluster in cwd
    refused(t, r, /^error: option '--home <dir>' argument '' is invalid\. It is empty: name the state directory of the cluster\.$/);
  }
  t.deepEqual(fs.readdirSync(cwd), [], 'nothing was written in the current directory');
  // BFTMR_HOME= as from `export BFTMR_HOME=$UNSET`: ~/.bftmr, as with no BFTMR_HOME, not the current directory.
  refused(t, await bftmrIn({ env: { ...env, BFTMR_HOME: '' }, cwd }, 'dfs', 'ls', '/'),
    new RegExp(`^bftmr: no cluster is running in ${path.join(user, '.bftmr').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(start one with: bftmr cluster start\\)$`));
  t.deepEqual(fs.readdirSync(cwd), []);
});

test('every command has --help, which fits 80 columns; --version says the version and the build', async (t) => {
  const v = await bftmr(home, '--version');
  t.is(v.code, 0);
  t.regex(v.stdout, /^bftmr \d+\.\d+\.\d+ \(build [0-9a-f]{12}, node \d+\.\d+\.\d+\)\n$/);
  for (const cmd of [[], ['run'], ['cluster'], ['cluster', 'start'], ['dfs'], ['dfs', 'put'], ['dfs', 'du'], ['dfs', 'mv'], ['dfs', 'setrep'], ['dfs', 'fsck'],
    ['job'], ['job', 'submit'], ['job', 'kill'], ['job', 'logs'], ['cluster', 'decommission'], ['dfs', 'balance'], ['tasktracker']]) {
    const r = await bftmr(home, ...cmd, '--help');
    t.is(r.code, 0, cmd.join(' '));
    t.regex(r.stdout, /Usage: bftmr/);
    // Commander wraps descriptions only while their column is 40 wide or more: a long command name stops it.
    t.deepEqual(r.stdout.split('\n').filter((l) => l.length > 80), [], `bftmr ${cmd.join(' ')} --help`);
  }
});

test.serial('dfs mv moves a file into a directory and a directory to a new name; a job reads the moved input', async (t) => {
  const mv = await bftmr(home, 'dfs', 'mv', '/taken/file.txt', '/in');
  t.is(mv.code, 0, mv.stderr);
  t.is(mv.stdout.trim(), 'moved 1 file to /in/file.txt');
  const dir = await bftmr(home, 'dfs', 'mv', '/in', '/moved');
  t.is(dir.stdout.trim(), 'moved 2 files to /moved');
  t.deepEqual(await names('/'), ['/moved/', '/moved/file.txt', '/moved/jargon.txt']);
  const job = await bftmr(home, 'job', 'submit', 'jobs/grep.ts', '--input', '/moved', '--output', '/after-mv', '--conf', 'pattern=hack', '--json');
  t.is(job.code, 0, job.stderr);
  t.is(JSON.parse(job.stdout).state, 'SUCCEEDED');
  // Back as it was, for the other tests.
  await bftmr(home, 'dfs', 'rm', '-r', '/after-mv');
  await bftmr(home, 'dfs', 'mv', '/moved/file.txt', '/taken/file.txt');
  t.is((await bftmr(home, 'dfs', 'mv', '/moved', '/in')).code, 0);
});

test.serial('dfs put copies local directories and several files as HDFS -put does; dfs du sums what lies below', async (t) => {
  const local = tempDir('bftmr-put-dir-');
  fs.mkdirSync(path.join(local, 'd', 'sub'), { recursive: true });
  fs.writeFileSync(path.join(local, 'd', 'one.txt'), 'one\n');
  fs.writeFileSync(path.join(local, 'd', 'sub', 'two.txt'), 'two two\n');
  fs.writeFileSync(path.join(local, 'top.txt'), 'top\n');
  // A directory onto a new path becomes that path; several sources go into it.
  t.is((await bftmr(home, 'dfs', 'put', path.join(local, 'd'), '/pd')).code, 0);
  t.deepEqual(await names('/pd'), ['/pd/one.txt', '/pd/sub/', '/pd/sub/two.txt']);
  const two = await bftmr(home, 'dfs', 'put', path.join(local, 'top.txt'), path.join(local, 'd'), '/pd', '--replication', '2');
  t.is(two.code, 0, two.stderr);
  t.deepEqual(two.stdout.split('\n').filter(Boolean).map((l) => l.split(':')[0]), ['/pd/top.txt', '/pd/d/one.txt', '/pd/d/sub/two.txt']);
  t.deepEqual(await names('/pd'), ['/pd/d/', '/pd/d/one.txt', '/pd/d/sub/', '/pd/d/sub/two.txt', '/pd/one.txt', '/pd/sub/', '/pd/sub/two.txt', '/pd/top.txt']);
  t.is((await bftmr(home, 'dfs', 'cat', '/pd/d/sub/two.txt')).stdout, 'two two\n');
  // Sizes, and sizes times each file's replication, a block shared by files of one line counted once (as du counts
  // a hard link once): /pd/d holds the same bytes as /pd/one.txt and /pd/sub, with 2 copies where they have 3.
  t.is((await bftmr(home, 'dfs', 'du', '/pd')).stdout, '12  24  /pd/d\n 4  12  /pd/one.txt\n 8  24  /pd/sub\n 4   8  /pd/top.txt\n');
  t.is((await bftmr(home, 'dfs', 'du', '-s', '/pd')).stdout, '28  44  /pd\n');
  t.is((await bftmr(home, 'dfs', 'du', '/pd/one.txt')).stdout, '4  12  /pd/one.txt\n');
  // Standard input, to one named file, in several blocks.
  const text = fs.readFileSync(corpus());
  const piped = await bftmrFed(home, text, 'dfs', 'put', '-', '/pd/stdin.txt', '--block-mb', '0.5');
  t.is(piped.code, 0, piped.stderr);
  t.regex(piped.stdout, /^\/pd\/stdin\.txt: .* in 4 blocks, replication 3\n$/);
  const back = path.join(local, 'back.txt');
  t.is((await bftmr(home, 'dfs', 'get', '/pd/stdin.txt', back)).code, 0);
  t.true(fs.readFileSync(back).equals(text));
  refused(t, await bftmrFed(home, 'x', 'dfs', 'put', '-', '/pd'), /^bftmr: \/pd is a directory: name the file standard input goes to$/);
  // Two sources of one name would overwrite each other in the local directory: refused, nothing written.
  const clash = path.join(local, 'clash');
  refused(t, await bftmr(home, 'dfs', 'get', '/pd/one.txt', '/pd/d/one.txt', clash),
    new RegExp(`^bftmr: /pd/one.txt and /pd/d/one.txt would both go to ${clash}/one.txt; get them one at a time$`));
  t.false(fs.existsSync(clash));
  // Into a directory where the second would replace a file: refused before the first is written.
  const into = path.join(local, 'into');
  fs.mkdirSync(into);
  fs.writeFileSync(path.join(into, 'two.txt'), 'mine\n');
  refused(t, await bftmr(home, 'dfs', 'get', '/pd/one.txt', '/pd/sub/two.txt', into), /two\.txt already exists \(use -f to replace it\)$/);
  t.deepEqual(fs.readdirSync(into), ['two.txt']);
  t.is((await bftmr(home, 'dfs', 'get', '-f', '/pd/one.txt', '/pd/sub/two.txt', into)).code, 0);
  t.is(fs.readFileSync(path.join(into, 'two.txt'), 'utf8'), 'two two\n');
  t.is((await bftmr(home, 'dfs', 'rm', '-r', '/pd')).code, 0);
});

test.serial('dfs put stores a /proc file whole, though it says it holds 0 bytes; standard input streams by blocks', async (t) => {
  // Files of /proc and /sys have no size until read (0 here, 4096 in /sys): a put that trusted it stored nothing.
  // Its puts keep blocks in a temporary directory of their own (every job submit keeps its bundle in one too).
  const tmp = tempDir('bftmr-proc-tmp-');
  const put = (input: string | Buffer | undefined, ...args: string[]) => bftmrIn({ input, env: { ...process.env, BFTMR_HOME: home, TMPDIR: tmp } }, 'dfs', 'put', ...args);
  for (const file of ['/proc/version', '/proc/filesystems']) {
    t.is(fs.statSync(file).size, 0);
    const bytes = fs.readFileSync(file);
    t.true(bytes.length > 100);
    const stored = await put(undefined, file, `/procfs${file}`, '--block-mb', '0.0001');
    t.is(stored.code, 0, stored.stderr);
    const n = Math.ceil(bytes.length / 105);
    t.regex(stored.stdout, new RegExp(`^/procfs${file}: ${bytes.length} B in ${n} block${n === 1 ? '' : 's'}, replication 3\\n$`));
    const back = await bftmr(home, 'dfs', 'cat', `/procfs${file}`);
    t.true(Buffer.from(back.stdout).equals(bytes));
  }
  // Standard input streams by blocks: one that ends at a block's end makes no empty block; an empty one is an empty file.
  const exact = Buffer.alloc(210, 'ab\n');
  const piped = await put(exact, '-', '/procfs/exact', '--block-mb', '0.0001');
  t.is(piped.code, 0, piped.stderr);
  t.is(piped.stdout, '/procfs/exact: 210 B in 2 blocks, replication 3\n');
  t.true(Buffer.from((await bftmr(home, 'dfs', 'cat', '/procfs/exact')).stdout).equals(exact));
  t.is((await put('', '-', '/procfs/empty')).stdout, '/procfs/empty: 0 B in 1 block, replication 3\n');
  // A stream that fails part-way: one line, nothing created.
  refused(t, await put(undefined, '/proc/self/mem', '/procfs/mem'), /^bftmr: cannot read \/proc\/self\/mem: an input\/output error$/);
  t.is((await bftmr(home, 'dfs', 'ls', '/procfs/mem')).code, 1);
  t.is((await bftmr(home, 'dfs', 'rm', '-r', '/procfs')).code, 0);
  t.deepEqual(fs.readdirSync(tmp), [], 'no temporary block is left');
});

test.serial('dfs ls, cat, du, get and rm take patterns (*, ?, [..], {a,b}), and so do job inputs', async (t) => {
  const local = tempDir('bftmr-glob-');
  for (const n of ['a1', 'a2', 'b1']) fs.writeFileSync(path.join(local, `${n}.txt`), `${n} hack\n`);
  t.is((await bftmr(home, 'dfs', 'put', local, '/g')).code, 0);
  t.deepEqual(await names('/g/a*'), ['/g/a1.txt', '/g/a2.txt']);
  t.deepEqual(await names('/g/?1.txt', '/g/[b-z]*'), ['/g/a1.txt', '/g/b1.txt', '/g/b1.txt']);
  t.is((await bftmr(home, 'dfs', 'cat', '/g/{b1,a2}.txt')).stdout, 'a2 hack\nb1 hack\n');
  t.is((await bftmr(home, 'dfs', 'du', '-s', '/g/a?.txt')).stdout, '8  24  /g/a1.txt\n8  24  /g/a2.txt\n');
  t.deepEqual(JSON.parse((await bftmr(home, 'dfs', 'du', '-s', '--json', '/g/a?.txt')).stdout), [
    { path: '/g/a1.txt', bytes: 8, with_copies: 24 }, { path: '/g/a2.txt', bytes: 8, with_copies: 24 }]);
  t.deepEqual(JSON.parse((await bftmr(home, 'dfs', 'ls', '--json', '/g/a*')).stdout).map((e: { path: string; size: number; is_dir: boolean }) => [e.path, e.size, e.is_dir]),
    [['/g/a1.txt', 8, false], ['/g/a2.txt', 8, false]]);
  const out = path.join(tempDir('bftmr-glob-out-'), 'o');
  const get = await bftmr(home, 'dfs', 'get', '/g/a*', out);
  t.is(get.code, 0, get.stderr);
  t.deepEqual(fs.readdirSync(out).sort(), ['a1.txt', 'a2.txt']);
  t.is(fs.readFileSync(path.join(out, 'a2.txt'), 'utf8'), 'a2 hack\n');
  const job = await bftmr(home, 'job', 'submit', 'jobs/grep.ts', '--input', '/g/a*', '--output', '/gout', '--conf', 'pattern=hack', '--json');
  t.is(job.code, 0, job.stderr);
  t.is((await bftmr(home, 'dfs', 'cat', '/gout/part-*')).stdout, 'hack\t2\n');
  refused(t, await bftmr(home, 'dfs', 'ls', '/g/z*'), /^bftmr: \/g\/z\*: no match$/);
  // As cat does: a path that is not there is said, and the others are still done (exit status 1).
  const some = await bftmr(home, 'dfs', 'cat', '/g/a1.txt', '/g/none.txt', '/g/z*', '/g/b1.txt');
  t.is(some.code, 1);
  t.is(some.stdout, 'a1 hack\nb1 hack\n');
  t.is(some.stderr, 'bftmr: /g/none.txt: no such file or directory\nbftmr: /g/z*: no match\n');
  refused(t, await bftmr(home, 'dfs', 'cat', '/g/[a'), /^bftmr: pattern "\/g\/\[a": \[ without \]$/);
  const rm = await bftmr(home, 'dfs', 'rm', '/g/a*');
  t.is(rm.stdout, 'deleted 2 files\n');
  t.deepEqual(await names('/g'), ['/g/b1.txt']);
  // A name with glob characters: as in a shell, a pattern that matches nothing is taken as it is, and \ escapes.
  t.is((await bftmr(home, 'dfs', 'put', path.join(local, 'a1.txt'), '/g/x[1]')).code, 0);
  t.is((await bftmr(home, 'dfs', 'put', path.join(local, 'a2.txt'), '/g/y*')).code, 0);
  t.is((await bftmr(home, 'dfs', 'cat', '/g/x[1]')).stdout, 'a1 hack\n');
  t.is((await bftmr(home, 'dfs', 'cat', '/g/x\\[1\\]')).stdout, 'a1 hack\n');
  t.is((await bftmr(home, 'dfs', 'cat', '/g/y\\*')).stdout, 'a2 hack\n');
  t.is((await bftmr(home, 'dfs', 'rm', '/g/x[1]', '/g/y\\*')).code, 0);
  t.deepEqual(await names('/g'), ['/g/b1.txt']);
  // A backslash before any other character is itself, in every command: /g/a\b is one name, not /g/ab.
  t.is((await bftmr(home, 'dfs', 'put', path.join(local, 'a1.txt'), '/g/a\\b')).code, 0);
  t.is((await bftmr(home, 'dfs', 'put', path.join(local, 'a2.txt'), '/g/ab')).code, 0);
  t.is((await bftmr(home, 'dfs', 'cat', '/g/a\\b')).stdout, 'a1 hack\n');
  t.is((await bftmr(home, 'dfs', 'rm', '/g/a\\b')).code, 0);
  t.deepEqual(await names('/g'), ['/g/ab', '/g/b1.txt']);
  t.is((await bftmr(home, 'dfs', 'rm', '-r', '/g', '/gout')).code, 0);
});

test.serial('below an input directory, names that start with _ or . are not input (as Hadoop\'s FileInputFormat); a file named as an input is', async (t) => {
  const local = tempDir('bftmr-hidden-');
  fs.writeFileSync(path.join(local, 'part-r-00000'), 'hack one\nhack two\n');
  fs.writeFileSync(path.join(local, '_SUCCESS'), '');
  fs.writeFileSync(path.join(local, '.part-r-00000.crc'), 'hack crc\n');
  fs.mkdirSync(path.join(local, '_logs'));
  fs.writeFileSync(path.join(local, '_logs', 'history'), 'hack log\n');
  t.is((await bftmr(home, 'dfs', 'put', local, '/hid')).code, 0);
  const grep = async (out: string, ...inputs: string[]) => {
    const r = await bftmr(home, 'job', 'submit', 'jobs/grep.ts', ...inputs.flatMap((i) => ['--input', i]), '--output', out, '--conf', 'pattern=hack', '--json');
    t.is(r.code, 0, r.stderr);
    return (await bftmr(home, 'dfs', 'cat', `${out}/part-*`)).stdout;
  };
  t.is(await grep('/hid-out1', '/hid'), 'hack\t2\n');
  t.is(await grep('/hid-out2', '/hid', '/hid/.part-r-00000.crc'), 'hack\t3\n');
  t.is((await bftmr(home, 'dfs', 'rm', '-r', '/hid', '/hid-out1', '/hid-out2')).code, 0);
});

test.serial('job logs shows what each attempt\'s own code wrote with console, a failed one\'s error too; --task picks one task', async (t) => {
  const logging = path.join(scratch, 'logging.ts');
  fs.writeFileSync(logging, `export default {
    map(line, ctx) { if (ctx.offset === 0) console.log('map starts at', ctx.offset, 'of', ctx.file); ctx.emit('lines', '1'); },
    reduce(key, values, ctx) { console.error(\`\${key}: \${values.length}\`); if (ctx.conf.fail) throw new Error('no reduce today'); ctx.emit(key, String(values.length)); },
  };\n`);
  const ok = await bftmr(home, 'job', 'submit', logging, '--input', '/in/jargon.txt', '--output', '/logged', '--json');
  t.is(ok.code, 0, ok.stderr);
  const { job_id: jobId } = JSON.parse(ok.stdout);
  const logs: { kind: string; task: number; tracker_id: string; outcome: string; text: string }[] =
    JSON.parse((await bftmr(home, 'job', 'logs', jobId, '--json')).stdout);
  const agreed = (kind: string) => logs.filter((l) => l.kind === kind && l.outcome === 'agreed');
  t.is(new Set(agreed('map').map((l) => l.tracker_id)).size, 2, 'f+1 map attempts, each with its log');
  for (const l of agreed('map')) t.is(l.text, 'map starts at 0 of /in/jargon.txt\n');
  for (const l of agreed('reduce')) t.regex(l.text, /^lines: \d+\n$/);
  const text = await bftmr(home, 'job', 'logs', jobId, '--task', 'reduce:0');
  t.regex(text.stdout, /^==> reduce 0, attempt_\S+ on tracker-\d \(agreed\) <==\nlines: \d+\n==> reduce 0/);
  t.notRegex(text.stdout, /map/);

  const bad = await bftmr(home, 'job', 'submit', logging, '--input', '/in/jargon.txt', '--output', '/not-logged', '--conf', 'fail=1', '--json');
  t.is(bad.code, 1);
  const failed: { kind: string; outcome: string; error: string; text: string }[] = JSON.parse((await bftmr(home, 'job', 'logs', JSON.parse(bad.stdout).job_id, '--json')).stdout);
  const reduces = failed.filter((l) => l.kind === 'reduce');
  t.true(reduces.every((l) => l.outcome === 'failed'), JSON.stringify(reduces));
  // f+1 attempts failed in the reduce's code, which ended the job; another one started meanwhile
  // (the task wants f+1 running) was stopped with it, whether or not its code had run.
  const own = reduces.filter((l) => !l.error.startsWith('stopped: the job failed'));
  t.true(own.length >= 2, JSON.stringify(reduces));
  for (const l of own) t.regex(l.text, /^lines: \d+\n\[bftmr: the task failed: Error: no reduce today\n/);
  for (const l of own) t.regex(l.error, /no reduce today/);
  refused(t, await bftmr(home, 'job', 'logs', jobId, '--task', 'map:9'), /^bftmr: job_\S+ has no attempts of map:9$/);
  await bftmr(home, 'dfs', 'rm', '-r', '/logged');
});

test.serial('job code that leaves a rejected promise behind fails its own job with a clear error, and the next job on the same workers runs', async (t) => {
  // An async reduce (refused: it returned a Promise) that also rejects, and a map that starts a promise it does not await.
  const asyncReduce = path.join(scratch, 'async_reduce.ts');
  fs.writeFileSync(asyncReduce, `export default { map(line, ctx) { ctx.emit('k', '1'); }, async reduce(key) { throw new Error('boom in reduce ' + key); } };\n`);
  const floating = path.join(scratch, 'floating.ts');
  fs.writeFileSync(floating, `export default { map(line, ctx) { if (ctx.offset === 0) void Promise.reject(new Error('left behind')); ctx.emit('k', '1'); }, reduce(key, values, ctx) { ctx.emit(key, String(values.length)); } };\n`);
  const wc = () => bftmr(home, 'job', 'submit', 'jobs/word_count.ts', '--input', '/in/jargon.txt', '--output', '/after-async', '--json');
  for (const [module, error] of [[asyncReduce, /reduce returned a Promise/], [floating, /map code left a promise that was rejected \(map, combine and reduce must be synchronous\): left behind/]] as const) {
    const bad = await bftmr(home, 'job', 'submit', module, '--input', '/in/jargon.txt', '--output', '/never', '--json');
    t.is(bad.code, 1, bad.stderr);
    t.regex(JSON.parse(bad.stdout).error, error);
    const next = await wc();
    t.is(next.code, 0, next.stderr);
    t.is(JSON.parse(next.stdout).state, 'SUCCEEDED');
    await bftmr(home, 'dfs', 'rm', '-r', '/after-async');
  }
});

test.serial('dfs setrep lowers and raises the copies of every block below a path; --wait returns once they are there', async (t) => {
  // Its own bytes: a block some other file refers to keeps the copies that file wants.
  t.is((await bftmr(home, 'dfs', 'put', 'README.md', '/rep/readme.md', '--block-mb', '0.005')).code, 0);
  const replicas = async () => {
    const st = JSON.parse((await bftmr(home, 'dfs', 'stat', '/rep/readme.md', '--json')).stdout);
    return { replication: st.replication, copies: st.blocks.map((b: any) => b.replicas.length) };
  };
  t.deepEqual((await replicas()).copies.every((n: number) => n === 3), true);
  const down = await bftmr(home, 'dfs', 'setrep', '1', '/rep', '--wait');
  t.is(down.code, 0, down.stderr);
  t.is(down.stdout, 'replication of 1 file set to 1\nevery block of /rep has its copies\n');
  const low = await replicas();
  t.is(low.replication, 1);
  t.true(low.copies.length > 1 && low.copies.every((n: number) => n === 1), JSON.stringify(low));
  const up = await bftmr(home, 'dfs', 'setrep', '3', '/rep/readme.md', '-w');
  t.is(up.code, 0, up.stderr);
  t.true((await replicas()).copies.every((n: number) => n === 3));
  const fsck = await bftmr(home, 'dfs', 'fsck', '/rep');
  t.is(fsck.code, 0, fsck.stdout);
  await bftmr(home, 'dfs', 'rm', '-r', '/rep');
});

test.serial('a job\'s code stays in the dfs while the job runs and goes when it ends (--job-code-keep-ms 0 here; as Hadoop\'s staging directory); the next submit stores it again', async (t) => {
  // Each map waits for the test to let it go (a minute at most), so the job is seen running.
  const slow = path.join(scratch, 'slow.ts');
  const gate = path.join(scratch, 'slow-gate');
  t.teardown(() => fs.writeFileSync(gate, ''));
  fs.writeFileSync(slow, `import fs from 'node:fs';
let waited = false;
export default {
  map(line: string, ctx: any) {
    for (let i = 0; i < 600 && !waited && !fs.existsSync(${JSON.stringify(gate)}); i++) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    waited = true;
    if (line.includes('hack')) ctx.emit('hack', '1');
  },
  reduce(k: string, vs: string[], ctx: any) { ctx.emit(k, String(vs.length)); },
};
`);
  const code = async () => (await names('/.bftmr/jobs').catch(() => [])).filter((n) => n?.endsWith('.mjs'));
  const started = await bftmr(home, 'job', 'submit', slow, '--input', '/in/jargon.txt', '--output', '/slow1', '--no-wait', '--json');
  t.is(started.code, 0, started.stderr);
  const jobId = JSON.parse(started.stdout).job_id;
  const held = await code();
  t.is(held.length, 1, 'the running job\'s code is stored');
  t.regex(held[0]!, /^\/\.bftmr\/jobs\/[0-9a-f]{64}\.mjs$/);
  const gone = async () => {
    for (let i = 0; i < 600 && (await code()).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    return (await code()).length === 0;
  };
  const dfs = new DfsClient((await findCluster(home)).jobTracker.address);
  try {
    // GetJob with wait_ms answers when the job ends (a client learns of the end at once), not at the wait's end.
    const getJob = (wait_ms: number) => dfs.jobTracker.call<M.GetJobRequest, M.JobStatus>('GetJob', { job_id: jobId, wait_ms }, wait_ms + 15_000);
    t.is((await getJob(0)).state, 'RUNNING');
    fs.writeFileSync(gate, '');
    const asked = Date.now();
    t.is((await getJob(MAX_JOB_WAIT_MS)).state, 'SUCCEEDED');
    t.true(Date.now() - asked < MAX_JOB_WAIT_MS, 'the answer came when the job ended');
    t.true(await gone(), 'the code of a job that ended is deleted');
    // So is each tracker's copy of its module.
    const modules = () => fs.readdirSync(home).filter((d) => d.startsWith('tracker-'))
      .flatMap((d) => (fs.existsSync(path.join(home, d, 'code')) ? fs.readdirSync(path.join(home, d, 'code')) : []));
    for (let i = 0; i < 600 && modules().length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    t.deepEqual(modules(), [], 'the trackers keep no module of a job that ended');
    // The same code again, through the client library, with the path it was stored at: the submit
    // finds it gone (JOB_CODE_GONE), stores it again and runs the job; `job status --wait` waits for it.
    const bundle = await bundleJob(slow);
    const again = await submit(dfs, bundle, held[0]!, {
      inputs: ['/in/jargon.txt'], output: '/slow2', f: 1, reduces: 1, splitBytes: 64 << 20, conf: {}, name: 'slow', cacheFiles: [],
    });
    const waited = await bftmr(home, 'job', 'status', again, '--wait', '--json');
    t.is(waited.code, 0, waited.stderr);
    t.is(JSON.parse(waited.stdout).state, 'SUCCEEDED');
  } finally {
    dfs.close();
  }
  t.deepEqual((await bftmr(home, 'dfs', 'cat', '/slow2/part-*')).stdout, (await bftmr(home, 'dfs', 'cat', '/slow1/part-*')).stdout);
  t.true(await gone());
  await bftmr(home, 'dfs', 'rm', '-r', '/slow1', '/slow2');
});

test.serial('a job whose code changes a built-in in its task threads changes no later job\'s output: each job has threads of its own', async (t) => {
  // Left in a shared thread, this would make every later job's toLowerCase lie on every tracker
  // alike: f+1 matching wrong outputs, committed. (It leaves the submitting process alone.)
  const evil = path.join(scratch, 'evil.ts');
  fs.writeFileSync(evil, `import { isMainThread } from 'node:worker_threads';
if (!isMainThread) String.prototype.toLowerCase = function () { return 'pwned'; };
export default {
  map(line: string, ctx: any) { ctx.emit('lines', '1'); },
  reduce(k: string, vs: string[], ctx: any) { ctx.emit(k, String(vs.length)); },
};
`);
  const bad = await bftmr(home, 'job', 'submit', evil, '--input', '/in/jargon.txt', '--output', '/evil', '--split-mb', '0.25', '--json');
  t.is(bad.code, 0, bad.stderr);
  const wc = await bftmr(home, 'job', 'submit', 'jobs/word_count.ts', '--input', '/in/jargon.txt', '--output', '/after-evil', '--split-mb', '0.25', '--json');
  t.is(wc.code, 0, wc.stderr);
  const out = (await bftmr(home, 'dfs', 'cat', '/after-evil/part-*')).stdout;
  t.is(out.split('\n').filter(Boolean).sort().join('\n'), wordCountOracle(corpus()).trimEnd().split('\n').sort().join('\n'));
  await bftmr(home, 'dfs', 'rm', '-r', '/evil', '/after-evil');
});

test.serial('dfs get -f writes into a FIFO in order, streaming, as cp -f does: it stays a FIFO', async (t) => {
  const local = tempDir('bftmr-get-fifo-');
  const want = fs.readFileSync(corpus());
  // Several blocks, so that what comes out of the FIFO shows they come in order.
  t.is((await bftmr(home, 'dfs', 'put', corpus(), '/fifo/jargon.txt', '--block-mb', '0.25')).code, 0);
  t.true(Buffer.from((await bftmr(home, 'dfs', 'cat', '/fifo/jargon.txt')).stdout).equals(want));
  const fifo = path.join(local, 'fifo');
  execFileSync('mkfifo', [fifo]);
  // Read while the get writes (a rename would leave cat waiting on a FIFO no name leads to: killed after).
  const cat = spawn('cat', [fifo], { stdio: ['ignore', 'pipe', 'ignore'] });
  const chunks: Buffer[] = [];
  cat.stdout.on('data', (c: Buffer) => chunks.push(c));
  const catDone = new Promise((r) => cat.on('close', r));
  try {
    const get = await bftmr(home, 'dfs', 'get', '-f', '/fifo/jargon.txt', fifo);
    t.is(get.code, 0, get.stderr);
    t.true(fs.lstatSync(fifo).isFIFO(), 'the FIFO is still a FIFO');
    await catDone;
    t.true(Buffer.concat(chunks).equals(want), 'cat read the file\'s bytes from the FIFO');
  } finally {
    cat.kill();
    await bftmr(home, 'dfs', 'rm', '-r', '/fifo');
  }
});

test.serial('dfs get to - or to /dev/stdout writes the file\'s bytes to standard output, and nothing else; - takes one file', async (t) => {
  const want = fs.readFileSync(corpus());
  const dash = await bftmr(home, 'dfs', 'get', '/in/jargon.txt', '-');
  t.is(dash.code, 0, dash.stderr);
  t.true(Buffer.from(dash.stdout).equals(want), 'get - : the bytes');
  t.false(fs.existsSync(path.join(ROOT, '-')), 'no file named -');
  // Standard output is a socket here: /dev/stdout links to /proc/self/fd/1, which names no file to open.
  const dev = await bftmr(home, 'dfs', 'get', '/in/jargon.txt', '/dev/stdout');
  t.is(dev.code, 0, dev.stderr);
  t.true(Buffer.from(dev.stdout).equals(want), 'get /dev/stdout: the bytes, without the name of the file written');
  refused(t, await bftmr(home, 'dfs', 'get', '/in/jargon.txt', '/in/jargon.txt', '-'), /- \(standard output\) takes one file, not 2 paths$/);
});

test.serial('dfs get -f through a symbolic link replaces the file it names (by a rename beside it) and leaves the link; a dangling link or a socket is refused', async (t) => {
  const local = tempDir('bftmr-get-link-');
  const want = fs.readFileSync(corpus());
  fs.mkdirSync(path.join(local, 'real'));
  fs.writeFileSync(path.join(local, 'real', 'file.txt'), 'old\n');
  const link = path.join(local, 'link.txt');
  fs.symlinkSync('real/file.txt', link);
  refused(t, await bftmr(home, 'dfs', 'get', '/in/jargon.txt', link), /link\.txt already exists \(use -f to replace it\)$/);
  const get = await bftmr(home, 'dfs', 'get', '-f', '/in/jargon.txt', link);
  t.is(get.code, 0, get.stderr);
  t.true(fs.lstatSync(link).isSymbolicLink(), 'the link is still a link');
  t.is(fs.readlinkSync(link), 'real/file.txt');
  t.true(fs.readFileSync(path.join(local, 'real', 'file.txt')).equals(want));
  t.deepEqual(fs.readdirSync(path.join(local, 'real')), ['file.txt'], 'no temporary file is left');
  // A dangling link, and a socket: one line each, and they stay as they were.
  const dangling = path.join(local, 'dangling');
  fs.symlinkSync('nowhere.txt', dangling);
  refused(t, await bftmr(home, 'dfs', 'get', '-f', '/in/jargon.txt', dangling), /^bftmr: .*\/dangling is a symbolic link to nowhere\.txt, which does not exist$/);
  t.is(fs.readlinkSync(dangling), 'nowhere.txt');
  t.false(fs.existsSync(path.join(local, 'nowhere.txt')));
  const sock = path.join(local, 'sock');
  const server = net.createServer().listen(sock);
  try {
    await new Promise((r) => server.once('listening', r));
    refused(t, await bftmr(home, 'dfs', 'get', '-f', '/in/jargon.txt', sock), /^bftmr: .*\/sock is a socket: it is not replaced$/);
    t.true(fs.lstatSync(sock).isSocket());
  } finally {
    server.close();
  }
});

test.serial('dfs get -f to /dev/null writes into the device: it stays a character device; /dev/full says it is full', async (t) => {
  // As root a regression would replace this machine's /dev/null with a file: a null device of
  // our own (mknod c 1 3) first, and /dev/null and /dev/full only once that one stayed a device
  // (a failed assertion ends the test).
  if (process.getuid?.() === 0) {
    const own = path.join(tempDir('bftmr-get-dev-'), 'null');
    try {
      execFileSync('mknod', [own, 'c', '1', '3'], { stdio: 'ignore' });
    } catch {
      t.pass('no mknod here (a container without CAP_MKNOD): /dev/null is not risked');
      return;
    }
    const r = await bftmr(home, 'dfs', 'get', '-f', '/in/jargon.txt', own);
    t.is(r.code, 0, r.stderr);
    t.true(fs.lstatSync(own).isCharacterDevice(), `${own} is still a character device`);
    t.deepEqual(fs.readdirSync(path.dirname(own)), ['null']);
  }
  const r = await bftmr(home, 'dfs', 'get', '-f', '/in/jargon.txt', '/dev/null');
  t.is(r.code, 0, r.stderr);
  t.true(fs.lstatSync('/dev/null').isCharacterDevice());
  refused(t, await bftmr(home, 'dfs', 'get', '-f', '/in/jargon.txt', '/dev/full'), /^bftmr: cannot write \/dev\/full: no space left on the device$/);
  t.true(fs.lstatSync('/dev/full').isCharacterDevice());
  t.deepEqual(fs.readdirSync('/dev').filter((n) => n.includes('.bftmr-partial-')), []);
});

test('run speaks of the user\'s own files: a map error names the local input file, the summary the local output', async (t) => {
  const dir = tempDir('bftmr-run-names-');
  fs.mkdirSync(path.join(dir, 'in'));
  fs.copyFileSync(corpus(), path.join(dir, 'in', 'jargon.txt'));
  const module = path.join(dir, 'throws.ts');
  fs.writeFileSync(module, `export default { map(line: string) { if (line.includes('hacker')) throw new Error('no hackers'); }, reduce() {} };\n`);
  const out = path.join(dir, 'out');
  const r = await bftmr(home, 'run', module, '--input', path.join(dir, 'in'), '--output', out, '--f', '0', '--trackers', '1');
  t.is(r.code, 1);
  t.regex(r.stdout, new RegExp(`output: ${out} \\(not committed\\)`));
  t.regex(r.stderr, new RegExp(`on the line at offset \\d+ of ${path.join(dir, 'in', 'jargon.txt')}: no hackers\\n$`));
  t.notRegex(r.stdout + r.stderr, /\/input\/|\/output/);
});
