// The CLI's TypeScript sources as one plain ES module, built with esbuild on first use and rebuilt
// when a source changes, so that `bftmr` starts without the TypeScript loader: through tsx, every
// command (and every daemon) spent about 0.5 s of its start resolving and loading some 70 modules
// through the loader's thread (`bftmr --help`: 0.85 s, 1.2 CPU-s). The bundle leaves the packages
// in node_modules as imports, and gives each source its own import.meta.url, so paths built from
// it (protos/, package.json, worker.ts) are the sources' own. It is kept in .cache/cli/ with a
// manifest of the sources it was built from (path, mtime, size): a start checks them (about 70
// stats) and uses the bundle only if none changed. When it cannot be built or kept (a syntax error
// being fixed, a read-only checkout), undefined: the caller runs the sources through tsx instead.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ENTRY = path.join(ROOT, 'cli', 'main.ts');
const DIR = path.join(ROOT, '.cache', 'cli');
const BUNDLE = path.join(DIR, 'cli.mjs');
const MANIFEST = path.join(DIR, 'manifest.json');
/** Changes when what a build makes changes (its options, the manifest's shape): older bundles are rebuilt. */
const FORMAT = 1;

/** The URL of an up-to-date bundle of the CLI, building it first if needed; undefined if there is none. */
export async function cliBundle() {
  try {
    if (fresh(JSON.parse(fs.readFileSync(MANIFEST, 'utf8')))) return pathToFileURL(BUNDLE).href;
  } catch {
    // No manifest yet, or an unreadable one: build.
  }
  try {
    await build();
    return pathToFileURL(BUNDLE).href;
  } catch {
    return undefined;
  }
}

function fresh(manifest) {
  if (manifest.format !== FORMAT || manifest.root !== ROOT || !fs.existsSync(BUNDLE)) return false;
  return manifest.inputs.every(([file, mtimeMs, size]) => {
    const st = fs.statSync(path.join(ROOT, file), { throwIfNoEntry: false });
    return st !== undefined && st.mtimeMs === mtimeMs && st.size === size;
  });
}

async function build() {
  const { build: esbuild } = await import('esbuild');
  const started = Date.now();
  const result = await esbuild({
    entryPoints: [ENTRY], outfile: BUNDLE, bundle: true, platform: 'node', format: 'esm', target: 'node20',
    packages: 'external', sourcemap: true, metafile: true, write: false, logLevel: 'silent', absWorkingDir: ROOT,
    plugins: [ownUrls],
  });
  const inputs = Object.keys(result.metafile.inputs).map((rel) => {
    const st = fs.statSync(path.resolve(ROOT, rel));
    return [rel, st.mtimeMs, st.size];
  });
  fs.mkdirSync(DIR, { recursive: true });
  // Each file goes in whole (a start of another process at the same moment reads the old or the new).
  const tag = `${process.pid}.${Math.random().toString(36).slice(2)}`;
  for (const out of result.outputFiles) {
    fs.writeFileSync(`${out.path}.${tag}`, out.contents);
    fs.renameSync(`${out.path}.${tag}`, out.path);
  }
  // A source changed while the bundle was being built may not be in it: no manifest, so the next start builds again.
  if (inputs.some(([, mtimeMs]) => mtimeMs >= started - 1000)) return;
  fs.writeFileSync(`${MANIFEST}.${tag}`, JSON.stringify({ format: FORMAT, root: ROOT, inputs }));
  fs.renameSync(`${MANIFEST}.${tag}`, MANIFEST);
}

/** Each source's import.meta.url is its own file's URL, as when it runs unbundled. */
const ownUrls = {
  name: 'own-import-meta-url',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, (args) => {
      const source = fs.readFileSync(args.path, 'utf8');
      return { contents: source.replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href)), loader: 'ts' };
    });
  },
};
