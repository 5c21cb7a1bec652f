/**
 * The TypeScript type check of a job module at submit: esbuild (cli/bundle.ts) strips types
 * without checking them, so without this a module that tsc refuses (an emit of a number, a
 * misspelt ctx method) would run, and fail, or worse succeed, on every tracker.
 *
 * The module is checked as its own project sees it: with the nearest tsconfig.json above it, or
 * else lenient defaults (not strict); either way `bftmr` is this package's Job API and the
 * module is resolved as a bundler does (as esbuild bundles it). Only the module and what it
 * imports are checked, never a whole project. A package without types (TS7016) is taken as
 * `any`, as esbuild takes it. The checker runs on a thread of its own (a second or so of CPU),
 * so that bundling, and `run`'s cluster start, go on meanwhile.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type * as TS from 'typescript';

const JOB_API = fileURLToPath(new URL('../lib/job.ts', import.meta.url));
const require = createRequire(import.meta.url);

/** The @types directory with bftmr's own Node types (where npm put them: here, or hoisted). */
function ownTypeRoots(): { types?: string[]; typeRoots?: string[] } {
  try {
    return { types: ['node'], typeRoots: [path.dirname(path.dirname(require.resolve('@types/node/package.json')))] };
  } catch {
    return {};
  }
}

/** The type errors of the module (and of what it imports), as tsc prints them; none: []. */
export function typeErrors(modulePath: string): Promise<string[]> {
  const entry = path.resolve(modulePath);
  if (!/\.[cm]?tsx?$/.test(entry)) return Promise.resolve([]); // a JavaScript module has no types to check
  // (__name: what a loader that keeps function names, as tsx may, calls in the function's source.)
  const worker = new Worker(`const { workerData: w, parentPort } = require('node:worker_threads');
const __name = (f) => f;
parentPort.postMessage((${check.toString()})(require(w.typescript), w.entry, w.dir, w.jobApi, w.own));`, {
    eval: true, execArgv: [],
    workerData: { typescript: require.resolve('typescript'), entry, dir: path.dirname(entry), jobApi: JOB_API, own: ownTypeRoots() },
  });
  return new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the type check ended (exit code ${code})`)));
  });
}

/** Runs in the checker's thread, from its source text: it uses nothing but its arguments. */
function check(ts: typeof TS, entry: string, dir: string, jobApi: string, own: { types?: string[]; typeRoots?: string[] }): string[] {
  const configFile = ts.findConfigFile(dir, ts.sys.fileExists);
  // Without a tsconfig.json, lenient defaults: not strict, so an untyped parameter is `any`.
  let options: TS.CompilerOptions = { strict: false, target: ts.ScriptTarget.ES2022, lib: ['lib.es2023.d.ts'], ...own };
  if (configFile) {
    const parsed = ts.getParsedCommandLineOfConfigFile(configFile, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} });
    if (parsed) options = parsed.options;
  }
  options = {
    ...options,
    noEmit: true, skipLibCheck: true, allowImportingTsExtensions: true,
    module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler,
    paths: { bftmr: [jobApi], ...options.paths },
  };
  const untypedModule = 7016; // "Could not find a declaration file for module": an untyped package is `any`
  return ts.getPreEmitDiagnostics(ts.createProgram([entry], options))
    .filter((d) => d.category === ts.DiagnosticCategory.Error && d.code !== untypedModule)
    .map((d) => {
      const text = ts.flattenDiagnosticMessageText(d.messageText, ' ');
      if (!d.file || d.start === undefined) return `error TS${d.code}: ${text}`;
      const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
      return `${d.file.fileName}:${line + 1}:${character + 1}: error TS${d.code}: ${text}`;
    });
}
