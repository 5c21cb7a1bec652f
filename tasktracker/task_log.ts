/**
 * What a task's own code writes with `console` (Hadoop's per-attempt stdout/stderr): kept in
 * memory while the attempt runs, at most kTaskLogBytes, and written to the attempt's log file
 * when it ends, failed or not. The tracker serves it to `bftmr job logs`; it is the tracker's
 * word, like everything a tracker says, and no part of any vote.
 */
import { Console } from 'node:console';
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';

export const kTaskLogBytes = 1 << 20;
/** Logs of jobs older than this are deleted (Hadoop's userlog retain hours). */
export const kTaskLogRetainMs = 24 * 60 * 60_000;

const ID = /^[A-Za-z0-9_-][A-Za-z0-9_.-]*$/;

/** The log file of an attempt under a tracker's directory; undefined for ids that are not ids. */
export function attemptLogPath(trackerDir: string, jobId: string, attemptId: string): string | undefined {
  if (!ID.test(jobId) || !ID.test(attemptId)) return undefined;
  return path.join(trackerDir, 'logs', jobId, `${attemptId}.log`);
}

/**
 * Deletes the logs of jobs whose last log is older than `retainMs`; returns how many jobs' logs
 * went, and the error of any that could not (it is tried again next time).
 */
export async function expireTaskLogs(trackerDir: string, now: number, retainMs = kTaskLogRetainMs): Promise<{ gone: number; failed?: unknown }> {
  const root = path.join(trackerDir, 'logs');
  let gone = 0;
  let failed: unknown;
  for (const job of await fs.promises.readdir(root).catch(() => [] as string[])) {
    const dir = path.join(root, job);
    const st = await fs.promises.stat(dir).catch(() => undefined);
    if (st && now - st.mtimeMs > retainMs) {
      try {
        await fs.promises.rm(dir, { recursive: true, force: true });
        gone++;
      } catch (e) {
        failed = e; // a worker writing a log there meanwhile (ENOTEMPTY), permissions
      }
    }
  }
  return { gone, failed };
}

export interface TaskLog {
  /** Puts `console` back and writes the rest of what was logged (nothing when nothing was). */
  finish(error?: unknown): void;
}

/**
 * From now until finish(), `console` in this thread writes to the task's log `file`, each call
 * straight to the file (at most kTaskLogBytes in all, so at most that many small writes): a
 * running attempt's log shows what it wrote so far, and an attempt killed part-way (its thread
 * stopped) keeps it.
 */
export function captureConsole(file: string): TaskLog {
  let kept = 0;
  let dropped = 0;
  let created = false;
  let broken = false;
  // No descriptor is held open between calls: a killed attempt's thread is stopped without closing one.
  const write = (text: string) => {
    if (broken) return;
    try {
      if (!created) {
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, text);
        created = true;
      } else fs.appendFileSync(file, text);
    } catch {
      broken = true; // a log that cannot be written is not the task's failure
    }
  };
  // Its write completes at once, so every console call lands before the next statement runs.
  const sink = new Writable({
    decodeStrings: false,
    write(chunk: string | Buffer, _encoding, done) {
      const text = typeof chunk === 'string' ? chunk : chunk.toString();
      const room = kTaskLogBytes - kept;
      if (room > 0) {
        const part = text.length <= room ? text : text.slice(0, room);
        write(part);
        kept += part.length;
      }
      dropped += Math.max(0, text.length - Math.max(0, room));
      done();
    },
  });
  const real = globalThis.console;
  globalThis.console = new Console({ stdout: sink, stderr: sink });
  return {
    finish(error?: unknown): void {
      globalThis.console = real;
      if (dropped) write(`[bftmr: ${dropped} more characters were not kept: a task keeps ${kTaskLogBytes} at most]\n`);
      if (error !== undefined) write(`[bftmr: the task failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}]\n`);
    },
  };
}
