/**
 * Turns a job's TypeScript module into one self-contained ES module (esbuild), checks its types
 * (tsc's checker), that it loads and that it has map and reduce, and names it by its SHA-256.
 * Done at submit, before any task runs: a module that does not compile is refused with the
 * compiler's message.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import * as esbuild from 'esbuild';
import { BftmrError, messageOf } from '../lib/errors.ts';
import { sha256 } from '../lib/digest.ts';
import { jobShape, jobShapeError, type JobShape } from '../tasktracker/worker.ts';
import { typeErrors } from './typecheck.ts';

export interface Bundle {
  code: Uint8Array;
  digest: string;
}

/**
 * `typecheck`: refuse a module with type errors (cli/typecheck.ts); `loadTimeoutMs`: how long the
 * module's top-level code may take to load (the check below).
 */
export async function bundleJob(modulePath: string, { typecheck = true, loadTimeoutMs = LOAD_TIMEOUT_MS } = {}): Promise<Bundle> {
  const entry = path.resolve(modulePath);
  try {
    await fs.access(entry);
  } catch {
    throw new BftmrError('JOB_BAD_MODULE', `job module ${modulePath} does not exist`);
  }
  // On a thread of its own, while esbuild bundles; its verdict comes after esbuild's (syntax first).
  const typing = typecheck ? typeErrors(entry) : Promise.resolve([]);
  typing.catch(() => {}); // awaited below, unless esbuild fails first
  let result: esbuild.BuildResult & { outputFiles: esbuild.OutputFile[] };
  try {
    result = await esbuild.build({
      entryPoints: [entry],
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      write: false,
      logLevel: 'silent',
      // Stack traces in task logs name the module's own lines (tasktracker/worker.ts turns source maps on).
      sourcemap: 'inline',
      sourcesContent: false,
      // Sources named from the root: absolute paths on the submitting machine.
      outfile: '/job.mjs',
      sourceRoot: '/',
      legalComments: 'none',
    });
  } catch (e) {
    const errors = (e as { errors?: esbuild.Message[] }).errors;
    if (errors?.length) {
      const m = errors[0]!;
      const where = m.location ? `${path.resolve(m.location.file)}:${m.location.line}:${m.location.column + 1}: ` : '';
      throw new BftmrError('JOB_BAD_MODULE', `${modulePath} does not compile: ${where}${m.text}`);
    }
    throw new BftmrError('JOB_BAD_MODULE', `${modulePath} does not compile: ${messageOf(e)}`);
  }
  const errors = await typing.catch((e) => [`the type check failed: ${messageOf(e)}`]);
  if (errors.length) {
    const more = errors.length > 1 ? ` (and ${errors.length - 1} more error${errors.length > 2 ? 's' : ''}: tsc --noEmit lists them)` : '';
    throw new BftmrError('JOB_BAD_MODULE', `${modulePath} does not type-check: ${errors[0]}${more}`);
  }
  const code = result.outputFiles[0]!.contents;
  const digest = sha256(code);
  const checked = await loadInThread(code, digest, loadTimeoutMs);
  if ('io' in checked) throw new BftmrError('LOCAL_IO', `cannot write the bundled job to ${os.tmpdir()}: ${checked.io}`);
  const error = 'error' in checked ? checked.error : jobShapeError(checked.shape);
  if (error !== undefined) throw new BftmrError('JOB_BAD_MODULE', `${modulePath} is not a bftmr job: ${error}`);
  return { code, digest };
}

type Checked = { shape: JobShape } | { error: string } | { io: string };

/** How long a job module's top-level code may take to load at submit. */
export const LOAD_TIMEOUT_MS = 30_000;

/**
 * Loads the bundle once to check it is a job, in a thread of its own: its top-level code runs
 * there (as in every task worker), so it cannot change this process's built-ins, and what it
 * prints goes to stderr, never into a command's output (`--json`). From a data: URL: no file to
 * leave behind, and a Ctrl-C while it runs (even a loop that never yields) ends the process as
 * usual. Code that needs a file URL (fileURLToPath(import.meta.url), as on a tracker) is loaded
 * again from a private file, removed once it is loaded. The thread runs plain JavaScript, with
 * tasktracker/worker.ts's jobShape as its source.
 */
function loadInThread(code: Uint8Array, digest: string, timeoutMs: number): Promise<Checked> {
  const script = `
const { workerData, parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const path = require('node:path');
const { pathToFileURL } = require('node:url');
(async () => {
  const code = Buffer.from(workerData.code);
  let mod;
  try {
    mod = await import('data:text/javascript;base64,' + code.toString('base64'));
  } catch {
    const file = path.join(workerData.tmpdir, workerData.name);
    try {
      try { fs.writeFileSync(file, code); } catch (e) { parentPort.postMessage({ io: e.message }); return; }
      mod = await import(pathToFileURL(file).href);
    } finally {
      fs.rmSync(file, { force: true });
    }
  }
  parentPort.postMessage({ shape: (${jobShape.toString()})(mod) });
})().catch((e) => parentPort.postMessage({ error: e instanceof Error ? e.message : String(e) }));
`;
  const worker = new Worker(script, {
    eval: true, execArgv: [], stdout: true, stderr: true,
    workerData: { code, tmpdir: os.tmpdir(), name: `bftmr-job-${digest}.${process.pid}.${randomBytes(4).toString('hex')}.mjs` },
  });
  worker.stdout.pipe(process.stderr, { end: false });
  worker.stderr.pipe(process.stderr, { end: false });
  return new Promise<Checked>((resolve) => {
    let checked: Checked | undefined;
    // Top-level code that never ends (a loop, a wait) would hold the submit forever, and every task after it.
    const slow = setTimeout(() => {
      checked ??= { error: `its top-level code was still running ${timeoutMs / 1000} s after it started to load (a loop that never ends?)` };
      void worker.terminate();
    }, timeoutMs);
    worker.once('exit', () => clearTimeout(slow));
    // Once it has answered, the thread ends by itself (its output all delivered first), or, if the
    // module left something running (a timer), is ended a moment later.
    worker.once('message', (m: Checked) => {
      checked = m;
      setTimeout(() => void worker.terminate(), 500).unref();
    });
    worker.once('error', (e) => { checked ??= { error: messageOf(e) }; });
    worker.once('exit', (n) => resolve(checked ?? { error: `its top-level code ended the thread that loaded it (exit code ${n})` }));
  });
}
