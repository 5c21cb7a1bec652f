/**
 * bftmr runs its TypeScript sources directly through tsx. Processes and worker threads it starts
 * get this loader by absolute URL, so they work from any current directory.
 */
export const TS_LOADER: string = import.meta.resolve('tsx');

/** Node arguments to run a .ts entry point in a child process. */
export function nodeArgs(entry: string): string[] {
  return ['--import', TS_LOADER, entry];
}
