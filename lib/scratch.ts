/**
 * Local files and directories this process writes for a while and then renames or removes (a
 * get's partial files, standard input kept for a put). Commands that write them remove them all
 * when interrupted (onInterruptRemoveScratch), so Ctrl-C leaves nothing half-written behind.
 */
import fs from 'node:fs';
import { onStopSignals } from './signals.ts';

const scratch = new Set<string>();

/** `p` is scratch until the returned function is called (it was renamed or removed). */
export function holdScratch(p: string): () => void {
  scratch.add(p);
  return () => { scratch.delete(p); };
}

/** Removes every scratch path now (the process is about to exit). */
export function removeScratch(): void {
  for (const p of scratch) fs.rmSync(p, { recursive: true, force: true });
  scratch.clear();
}

/**
 * Runs `fn`; if a stop signal (lib/signals.ts) comes meanwhile, every scratch path goes and the process
 * exits 130, saying so.
 */
export async function onInterruptRemoveScratch<T>(fn: () => Promise<T>): Promise<T> {
  const onSignal = () => {
    removeScratch();
    process.stderr.write('\nbftmr: interrupted; nothing half-written was left\n');
    process.exit(130);
  };
  const off = onStopSignals(onSignal);
  try {
    return await fn();
  } finally {
    off();
  }
}
