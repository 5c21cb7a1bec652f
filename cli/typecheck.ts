/**
 * The TypeScript type check of a job module at submit: esbuild (cli/bundle.ts) strips types
 * without checking them, so without this a module that tsc refuses (an emit of a number, a
 * misspelt ctx method) would run, and fail, or worse succeed, on every tracker.
 *
 * The module is checked as its own project sees it: with the nearest tsconfig.json above it, or
 * else lenient defaults (not strict); either way `bftmr` is this package's Job API and the
 * module is resolved as a bundler does (as esbuild bundles it). Only the module and what it imports are checked,
 * never a whole project. A package without types (TS7016) is taken as `any`, as esbuild takes it.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const JOB_API = fileURLToPath(new URL('../lib/job.ts', import.meta.url));

/** The @types directory with bftmr's own Node types (where npm put them: here, or hoisted). */
function ownTypeRoots(): { types: string[]; typeRoots: string[] } | Record<string, never> {
  try {
    return { types: ['node'], typeRoots: [path.dirname(path.dirname(createRequire(import.meta.url).resolve('@types/node/package.json')))] };
  } catch {
    return {};
  }
}
/** "Could not find a declaration file for module": an untyped package is `any`. */
const UNTYPED_MODULE = 7016;

/** The type errors of the module (and of what it imports), as tsc prints them; none: []. */
export async function typeErrors(modulePath: string): Promise<string[]> {
  const entry = path.resolve(modulePath);
  if (!/\.[cm]?tsx?$/.test(entry)) return []; // a JavaScript module has no types to check
  const { default: ts } = await import('typescript');
  const configFile = ts.findConfigFile(path.dirname(entry), ts.sys.fileExists);
  // Without a tsconfig.json, lenient defaults: not strict, so an untyped parameter is `any`.
  let options: import('typescript').CompilerOptions = {
    strict: false, target: ts.ScriptTarget.ES2022, lib: ['lib.es2023.d.ts'], ...ownTypeRoots(),
  };
  if (configFile) {
    const parsed = ts.getParsedCommandLineOfConfigFile(configFile, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} });
    if (parsed) options = parsed.options;
  }
  options = {
    ...options,
    noEmit: true, skipLibCheck: true, allowImportingTsExtensions: true,
    module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler,
    paths: { bftmr: [JOB_API], ...options.paths },
  };
  const program = ts.createProgram([entry], options);
  return ts.getPreEmitDiagnostics(program)
    .filter((d) => d.category === ts.DiagnosticCategory.Error && d.code !== UNTYPED_MODULE)
    .map((d) => {
      const text = ts.flattenDiagnosticMessageText(d.messageText, ' ');
      if (!d.file || d.start === undefined) return `error TS${d.code}: ${text}`;
      const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
      return `${d.file.fileName}:${line + 1}:${character + 1}: error TS${d.code}: ${text}`;
    });
}
