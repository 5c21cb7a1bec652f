import test from 'ava';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleJob } from '../cli/bundle.ts';
import { sha256 } from '../lib/digest.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

// A submit loads the bundle once to check it is a job, from a private file it then removes: submits
// in several processes at once do not disturb each other, and leave nothing behind in the temporary directory.
test('submits of the same job in several processes each check their bundle and leave no file behind', async (t) => {
  const { code, digest } = await bundleJob(path.join(ROOT, 'jobs/word_count.ts'));
  t.is(sha256(code), digest);
  // Their temporary directory is their own (tsx keeps its cache there too): other test files' submits of word_count use the shared one.
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bftmr-bundle-tmp-'));
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const script = `import { bundleJob } from './cli/bundle.ts';
    for (let i = 0; i < 10; i++) if ((await bundleJob('jobs/word_count.ts')).digest !== '${digest}') process.exit(2);`;
  const runs = Array.from({ length: 3 }, () => new Promise<number | null>((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, stdio: 'inherit', env: { ...process.env, TMPDIR: tmp } });
    p.on('exit', resolve);
  }));
  t.deepEqual(await Promise.all(runs), [0, 0, 0]);
  t.deepEqual(fs.readdirSync(tmp).filter((n) => n.startsWith('bftmr-job-')), [], 'no bundle file is left in the temporary directory');
});

for (const [sig, what] of [['SIGINT', 'Ctrl-C'], ['SIGHUP', 'the terminal closing']] as const) {
test(`${what} while a submit loads its job (the module's top-level code runs then, even a loop that never yields) ends it, and no bundle file is left`, async (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bftmr-bundle-int-'));
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const module = path.join(tmp, 'spins.ts');
  const started = path.join(tmp, 'started');
  fs.writeFileSync(module, `import fs from 'node:fs';
fs.writeFileSync(${JSON.stringify(started)}, '');
for (;;) { /* never yields */ }
export default { map(line: string) {}, reduce(key: string) {} };\n`);
  const input = path.join(tmp, 'in.txt');
  fs.writeFileSync(input, 'x\n');
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/bftmr.js'), 'run', module, '--input', input, '--output', path.join(tmp, 'out')],
    { cwd: ROOT, env: { ...process.env, TMPDIR: tmp }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
  let gone = false;
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (code, signal) => { gone = true; resolve([code, signal]); }));
  // The module loads after it type-checks, which on a loaded machine can take a minute: wait for it
  // (or for the submit to end, which would be the failure) rather than for a fixed time.
  for (let i = 0; i < 1_800 && !gone && !fs.existsSync(started); i++) await new Promise((r) => setTimeout(r, 100));
  t.true(fs.existsSync(started), `the module's top-level code runs (${gone ? `the submit ended first: ${stderr.trim()}` : 'not within 3 minutes'})`);
  child.kill(sig);
  const timeout = setTimeout(() => child.kill('SIGKILL'), 10_000);
  // run checks the module while its cluster starts: its own handler stops the cluster and exits 130.
  t.deepEqual(await exited, [130, null], `${what} ends it`);
  clearTimeout(timeout);
  t.deepEqual(fs.readdirSync(tmp).filter((n) => n.startsWith('bftmr-')), []);
});
}

test('a job module whose top-level code never ends is refused after a while, with a message, instead of holding the submit forever', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bftmr-bundle-spin-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const module = path.join(dir, 'spins.ts');
  fs.writeFileSync(module, `for (;;) { /* never yields */ }
export default { map(line: string) {}, reduce(key: string) {} };\n`);
  const e = await t.throwsAsync(bundleJob(module, { loadTimeoutMs: 1_000 }));
  t.is((e as { code?: string }).code, 'JOB_BAD_MODULE');
  t.regex(e!.message, /spins\.ts is not a bftmr job: its top-level code was still running 1 s after it started to load/);
});

test('a job module with a type error is refused with tsc\'s message (--no-typecheck runs it unchecked); its own tsconfig.json, if it has one, is the one that counts', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bftmr-bundle-types-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const module = path.join(dir, 'emits_a_number.ts');
  fs.writeFileSync(module, `import type { Job } from 'bftmr';
export default {
  map(line, ctx) { ctx.emit(line, 1); },
  reduce(key, values, ctx) { ctx.emit(key, String(values.length)); },
} satisfies Job;\n`);
  const e = await t.throwsAsync(bundleJob(module));
  t.is((e as { code?: string }).code, 'JOB_BAD_MODULE');
  t.regex(e!.message, /emits_a_number\.ts does not type-check: .*emits_a_number\.ts:3:35: error TS2345: Argument of type 'number' is not assignable to parameter of type 'string'/);
  await t.notThrowsAsync(bundleJob(module, { typecheck: false }));
  // Untyped parameters: `any` under the lenient defaults, an error under a project's own strict tsconfig.
  const loose = path.join(dir, 'project', 'loose.ts');
  fs.mkdirSync(path.dirname(loose));
  fs.writeFileSync(loose, `export default { map(line, ctx) { ctx.emit(line, '1'); }, reduce(key, values, ctx) { ctx.emit(key, String(values.length)); } };\n`);
  await t.notThrowsAsync(bundleJob(loose));
  fs.writeFileSync(path.join(dir, 'project', 'tsconfig.json'), JSON.stringify({ compilerOptions: { strict: true } }));
  t.regex((await t.throwsAsync(bundleJob(loose)))!.message, /error TS7006: Parameter 'line' implicitly has an 'any' type/);
});

test('a job whose top-level code turns import.meta.url into a path (it needs a file URL, as on a tracker) is checked from a file, which goes', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bftmr-bundle-url-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const module = path.join(dir, 'here.ts');
  fs.writeFileSync(module, `import { fileURLToPath } from 'node:url';
const here = fileURLToPath(import.meta.url);
export default { map(line: string) { void here; }, reduce(key: string) {} };\n`);
  const { code, digest } = await bundleJob(module);
  t.is(sha256(code), digest);
  t.deepEqual(fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith(`bftmr-job-${digest}`)), []);
});

test('a job module\'s top-level code runs in a thread of its own at submit: what it prints goes to stderr, not into --json output, and the built-ins it changes are not the CLI\'s', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bftmr-bundle-noisy-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const module = path.join(dir, 'noisy.ts');
  fs.writeFileSync(module, `console.log('loading the noisy job');
process.stdout.write('more noise\\n');
String.prototype.toLowerCase = function () { return 'pwned'; };
export default {
  map(line: string, ctx: any) { ctx.emit('lines', '1'); },
  reduce(k: string, vs: string[], ctx: any) { ctx.emit(k, String(vs.length)); },
};\n`);
  const input = path.join(dir, 'in.txt');
  fs.writeFileSync(input, 'a\nb\nc\n');
  const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/bftmr.js'), 'run', module, '--input', input,
      '--output', path.join(dir, 'out'), '--json'], { cwd: ROOT, env: { ...process.env, TMPDIR: dir } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
  t.is(r.code, 0, r.stderr);
  t.is(JSON.parse(r.stdout).state, 'SUCCEEDED', 'stdout is the summary alone');
  t.regex(r.stderr, /loading the noisy job\nmore noise\n/);
  t.is(fs.readFileSync(path.join(dir, 'out', 'part-r-00000'), 'utf8'), 'lines\t3\n');
});
