/** What every client command needs: the state directory and, from it, the running cluster. */
import type { Command } from 'commander';
import { resolveHome } from '../lib/options.ts';
import { DfsClient, type DfsClientOptions } from '../dfs/client.ts';
import { findCluster, type ClusterState } from './cluster_launcher.ts';

/**
 * The cluster's state directory. An empty BFTMR_HOME counts as unset (~/.bftmr), as the XDG
 * base directory variables and most tools take an empty variable: taken as a path it was the
 * current directory, which `cluster start` filled. (An empty `--home` is refused in main.ts.)
 */
export function homeOf(cmd: Command): string {
  const env = process.env.BFTMR_HOME === '' ? { ...process.env, BFTMR_HOME: undefined } : process.env;
  return resolveHome(cmd.optsWithGlobals().home, env);
}

export async function connect(cmd: Command, opts: DfsClientOptions = {}): Promise<{ state: ClusterState; dfs: DfsClient }> {
  const home = homeOf(cmd);
  const state = await findCluster(home);
  return { state, dfs: new DfsClient(state.jobTracker.address, { linkDir: home, ...opts }) };
}

/** Runs `fn` with a dfs client of the running cluster, closing it afterwards. */
export async function withCluster<T>(cmd: Command, fn: (dfs: DfsClient, state: ClusterState) => Promise<T>, opts: DfsClientOptions = {}): Promise<T> {
  const { state, dfs } = await connect(cmd, opts);
  try {
    return await fn(dfs, state);
  } finally {
    dfs.close();
  }
}
