/** The signals that ask a command to stop, and a command's handling of them. */

/** Ctrl-C, kill, and the terminal closing (a `run` left in a closed terminal stops its cluster too). */
export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** Calls `handler` on every stop signal until the returned function is called. */
export function onStopSignals(handler: () => void): () => void {
  for (const s of STOP_SIGNALS) process.on(s, handler);
  return () => { for (const s of STOP_SIGNALS) process.off(s, handler); };
}
