/** Runs the real `bftmr` command (a real process) and the coreutils oracles, for integration tests. */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = path.join(ROOT, 'bin/bftmr.js');

export interface Result { code: number; stdout: string; stderr: string }

export function bftmr(home: string, ...args: string[]): Promise<Result> {
  return bftmrFed(home, undefined, ...args);
}

/** `bftmr` with `input` on its standard input (which is closed after it). */
export function bftmrFed(home: string, input: string | Buffer | undefined, ...args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [BIN, ...args], {
      cwd: ROOT, env: { ...process.env, BFTMR_HOME: home }, maxBuffer: 256 << 20,
    }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

/**
 * A task tracker that joins the cluster in `home` as one on another host would: its own
 * credentials (`cluster credentials`), then `bftmr tasktracker` with `args`. Its output goes to
 * `<its dir>/log`. `cluster stop` asks it to shut down; the caller kills it in case it fails before.
 * A `--jobtracker` in `args` replaces the cluster's own address (an option's last value counts).
 */
export async function joinTracker(home: string, name: string, ...args: string[]): Promise<ChildProcess> {
  const jtAddress = JSON.parse(fs.readFileSync(path.join(home, 'cluster.json'), 'utf8')).jobTracker.address as string;
  const dir = path.join(home, name);
  fs.mkdirSync(dir, { recursive: true });
  const creds = await bftmr(home, 'cluster', 'credentials', '--name', name, '--out', path.join(dir, 'tls'));
  if (creds.code !== 0) throw new Error(`cluster credentials: ${creds.stderr}`);
  const log = fs.openSync(path.join(dir, 'log'), 'a');
  const child = spawn(process.execPath, [BIN, 'tasktracker', '--jobtracker', jtAddress, '--dir', dir, ...args], { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  return child;
}

export { tempDir } from './temp.ts';

/** Real text from Debian's jargon-text package (scripts/fetch-corpus.sh puts it there). */
export function corpus(): string {
  const file = path.join(ROOT, '.cache/corpus/jargon.txt');
  if (!fs.existsSync(file)) execFileSync(path.join(ROOT, 'scripts/fetch-corpus.sh'), { stdio: 'ignore' });
  return file;
}

function sh(script: string, ...args: string[]): string {
  return shIn('', script, ...args);
}

/** A bash script under LC_ALL=C, with `input` on its stdin and `args` as $1, $2, ... */
function shIn(input: string, script: string, ...args: string[]): string {
  return execFileSync('bash', ['-c', script, 'oracle', ...args], { input, env: { ...process.env, LC_ALL: 'C' }, maxBuffer: 256 << 20 }).toString();
}

/** coreutils word count, as `word<TAB>count` lines in byte order. */
export function wordCountOracle(file: string): string {
  return sh(`tr -cs 'A-Za-z0-9' '\\n' < "$1" | tr A-Z a-z | sort | uniq -c | awk 'NF==2 {print $2 "\\t" $1}'`, file);
}

/** Lines matching an ERE, counted per first match on the line (awk's match is the first match). */
export function grepOracle(file: string, ere: string): { perMatch: string; total: number } {
  const perMatch = sh(`awk 'match($0, /${ere}/) { print substr($0, RSTART, RLENGTH) }' "$1" | sort | uniq -c | awk '{print $2 "\\t" $1}'`, file);
  const total = Number(sh(`grep -cE '${ere}' "$1" || true`, file).trim());
  return { perMatch, total };
}

/**
 * An inverted index by coreutils: each word (tokenised as word count does) with the names its
 * files have in the dfs, in byte order, comma-separated. `files` maps local file -> dfs name.
 */
export function invertedIndexOracle(files: Record<string, string>): string {
  const pairs = Object.entries(files).map(([local, name]) =>
    sh(`tr -cs 'A-Za-z0-9' '\n' < "$1" | tr A-Z a-z | grep -v '^$' | sort -u | awk -v f="$2" '{print $0 "\t" f}'`, local, name)).join('');
  return shIn(pairs, `sort -t "$(printf '\t')" -k1,1 -k2,2 | awk -F '\t' '{ k = $1 "" } NR > 1 && k != w { print w "\t" l } NR == 1 || k != w { w = k; l = $2; next } { l = l "," $2 } END { if (NR) print w "\t" l }'`);
}

/** coreutils join on the first tab-separated field, every line sorted in byte order. */
export function joinOracle(left: string, right: string): string {
  return sh(`t="$(printf '\t')"; join -t "$t" <(sort -t "$t" -k1,1 "$1") <(sort -t "$t" -k1,1 "$2") | sort`, left, right);
}

/** coreutils sort in byte order: every line, duplicates kept. */
export function sortOracle(file: string): string {
  return sh(`LC_ALL=C sort "$1"`, file);
}

/** Lines matching an ERE, as grep -E prints them. */
export function grepLinesOracle(file: string, ere: string): string {
  return sh(`grep -E "$2" "$1" || true`, file, ere);
}

/** The part files under a local directory (part-r-, or a map-only job's part-m-), concatenated in part order (a total-order job's whole output). */
export function concatenatedOutput(dir: string): string {
  return fs.readdirSync(dir).filter((f) => /^part-[mr]-/.test(f)).sort().map((f) => fs.readFileSync(path.join(dir, f), 'utf8')).join('');
}

/** The lines of every part file under a local directory, in byte order (the format the oracles print). */
export function normalisedOutput(dir: string): string {
  const lines = fs.readdirSync(dir).filter((f) => /^part-[mr]-/.test(f)).sort()
    .flatMap((f) => fs.readFileSync(path.join(dir, f), 'utf8').split('\n').filter(Boolean));
  lines.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return lines.map((l) => l + '\n').join('');
}

/** The JSON a successful command printed (the command's stderr if it failed). */
export async function json<T>(r: Promise<Result>): Promise<T> {
  const res = await r;
  if (res.code !== 0) throw new Error(res.stderr);
  return JSON.parse(res.stdout) as T;
}

/** The dfs block files (digests) a tracker directory holds. */
export function blockFiles(dir: string): Set<string> {
  const root = path.join(dir, 'store', 'blocks');
  if (!fs.existsSync(root)) return new Set();
  return new Set(fs.readdirSync(root).flatMap((sub) => fs.readdirSync(path.join(root, sub))));
}

/** Polls until `done` holds (a liveness wait, not a timing assertion); returns the last value. */
export async function until<T>(what: string, probe: () => Promise<T>, done: (v: T) => boolean, timeoutMs = 180_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (done(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v).slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
