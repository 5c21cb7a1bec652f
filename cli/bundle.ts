/**
 * Turns a job's TypeScript module into one self-contained ES module (esbuild), checks that it
 * loads and has map and reduce, and names it by its SHA-256. Done at submit, before any task
 * runs: a module that does not compile is refused with the compiler's message.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';
import { BftmrError, messageOf } from '../lib/errors.ts';
import { sha256 } from '../lib/digest.ts';
import { validateJobModule } from '../tasktracker/worker.ts';

export interface Bundle {
  code: Uint8Array;
  digest: string;
}

export async function bundleJob(modulePath: string): Promise<Bundle> {
  const entry = path.resolve(modulePath);
  try {
    await fs.access(entry);
  } catch {
    throw new BftmrError('JOB_BAD_MODULE', `job module ${modulePath} does not exist`);
  }
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
  const code = result.outputFiles[0]!.contents;
  const digest = sha256(code);
  // Loaded once here to check it is a job, from a data: URL: no file to leave behind, and a Ctrl-C
  // while its top-level code runs (even a loop that never yields) ends the process as usual.
  // Code that needs a file URL (fileURLToPath(import.meta.url), as on a tracker) is loaded again
  // from a private file, removed once it is loaded.
  let mod: unknown;
  try {
    try {
      mod = await import(`data:text/javascript;base64,${Buffer.from(code).toString('base64')}`);
    } catch {
      const file = path.join(os.tmpdir(), `bftmr-job-${digest}.${process.pid}.${randomBytes(4).toString('hex')}.mjs`);
      try {
        await fs.writeFile(file, code).catch((e: unknown) => {
          throw new BftmrError('LOCAL_IO', `cannot write the bundled job to ${os.tmpdir()}: ${messageOf(e)}`);
        });
        mod = await import(pathToFileURL(file).href);
      } finally {
        await fs.rm(file, { force: true });
      }
    }
    validateJobModule(mod);
  } catch (e) {
    if (e instanceof BftmrError) throw e;
    throw new BftmrError('JOB_BAD_MODULE', `${modulePath} is not a bftmr job: ${messageOf(e)}`);
  }
  return { code, digest };
}
