import test from 'ava';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** A checkout of its own: bin/cli_bundle.js, node_modules (linked), and a small cli/main.ts that imports lib/value.ts. */
function checkout(t: { teardown: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bftmr-cli-bundle-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, 'bin'));
  fs.copyFileSync(path.join(ROOT, 'bin/cli_bundle.js'), path.join(dir, 'bin/cli_bundle.js'));
  fs.writeFileSync(path.join(dir, 'package.json'), '{"type": "module"}');
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  fs.mkdirSync(path.join(dir, 'cli'));
  fs.mkdirSync(path.join(dir, 'lib'));
  fs.writeFileSync(path.join(dir, 'cli/main.ts'), `import { value, where } from '../lib/value.ts';
import { fileURLToPath } from 'node:url';
const mine: string = fileURLToPath(import.meta.url);
console.log(JSON.stringify({ value, where, mine }));\n`);
  backdate(path.join(dir, 'cli/main.ts'));
  setValue(dir, 'one');
  return dir;
}

function setValue(dir: string, value: string): void {
  const file = path.join(dir, 'lib/value.ts');
  fs.writeFileSync(file, `export const value: string = ${JSON.stringify(value)};
export const where = new URL('../package.json', import.meta.url).pathname;\n`);
  backdate(file);
}

/** A random time well before now: a source changed during a build is not trusted to be in it (and each write gets its own mtime). */
function backdate(file: string): void {
  const then = new Date(Date.now() - 60_000 + Math.floor(Math.random() * 30_000));
  fs.utimesSync(file, then, then);
}

/** What the checkout's CLI prints when started from its bundle, or 'none' when there is no bundle. */
async function run(dir: string): Promise<{ value: string; where: string; mine: string } | 'none'> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e',
    `const url = await (await import('./bin/cli_bundle.js')).cliBundle(); if (url) await import(url); else console.log('"none"');`], { cwd: dir });
  return JSON.parse(stdout);
}

test('the CLI bundle is built on first use, kept, rebuilt when a source changes, and gives each source its own import.meta.url', async (t) => {
  const dir = checkout(t);
  const real = fs.realpathSync(dir);
  t.deepEqual(await run(dir), { value: 'one', where: path.join(real, 'package.json'), mine: path.join(real, 'cli/main.ts') });
  const manifest = path.join(dir, '.cache/cli/manifest.json');
  t.true(fs.existsSync(manifest));
  const built = fs.statSync(path.join(dir, '.cache/cli/cli.mjs')).mtimeMs;
  t.like(await run(dir), { value: 'one' });
  t.is(fs.statSync(path.join(dir, '.cache/cli/cli.mjs')).mtimeMs, built, 'an unchanged source: the bundle is used as it is');
  setValue(dir, 'two');
  t.like(await run(dir), { value: 'two' }, 'a changed source: the bundle is built again');
  // A source that does not compile: no bundle (bin/bftmr.js then runs the sources through tsx, which says what is wrong).
  fs.writeFileSync(path.join(dir, 'lib/value.ts'), 'export const value: string = ;\n');
  t.is(await run(dir), 'none');
});

test('a source changed while the bundle was built leaves no manifest: the next start builds again', async (t) => {
  const dir = checkout(t);
  fs.utimesSync(path.join(dir, 'cli/main.ts'), new Date(), new Date());
  t.like(await run(dir), { value: 'one' });
  t.false(fs.existsSync(path.join(dir, '.cache/cli/manifest.json')));
});
