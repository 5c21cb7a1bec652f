/**
 * Temporary directories for tests, removed when the test process exits: a test that left its
 * directories behind filled the disk of a machine that runs CI again and again.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const made: string[] = [];
process.on('exit', () => {
  for (const dir of made) {
    try { fs.rmSync(dir, { recursive: true, force: true }); } catch { /* a daemon may still be writing there: it goes with the next run's */ }
  }
});

/** A new directory under the system's temporary directory, named `prefix` and a random suffix. */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}
