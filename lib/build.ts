/**
 * This build's identity: a digest of the code that decides what a node does and writes (lib,
 * dfs, jobtracker, tasktracker, protos), of the locked dependencies and of the runtime (Node, V8,
 * ICU and Unicode versions: job code's toLowerCase or \p{L} may change with them). Honest
 * trackers must write byte-identical outputs, and two builds may not (a combiner run at other
 * points, a different xxhash): a tracker of another build would be outvoted and blamed though it
 * lies about nothing.
 * So the job tracker accepts trackers of its own build only, as HDFS once refused a DataNode of
 * another build version.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { newHasher, shortDigest } from './digest.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PARTS = ['lib', 'dfs', 'jobtracker', 'tasktracker', 'protos'];

function sources(): string[] {
  const files = PARTS.flatMap((dir) => fs.readdirSync(path.join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.(ts|proto)$/.test(f))
    .map((f) => path.posix.join(dir, f.split(path.sep).join('/'))));
  return [...files.sort(), 'package-lock.json'];
}

function buildId(): string {
  const h = newHasher();
  const v = process.versions;
  h.update(`node ${v.node} v8 ${v.v8} icu ${v.icu ?? '-'} unicode ${v.unicode ?? '-'}\0`);
  for (const f of sources()) {
    h.update(`${f}\0`);
    h.update(fs.readFileSync(path.join(ROOT, f)));
    h.update('\0');
  }
  return shortDigest(h.digest('hex'));
}

export const BUILD_ID = buildId();
