/**
 * Hard links through which a put hands its blocks to storage nodes on this host (the node's
 * AdoptBlock reads the block from the file and keeps its own copy), instead of streaming them
 * over TLS: on a local cluster that spares the client and the first node most of a put's work.
 *
 * A node opens only a file named by the block's digest (tasktracker/block_service.ts), so each
 * block gets a link of that name to the local file (or to the temporary file a streamed block is
 * kept in), in a directory of its own inside a directory made for the put. A link needs the file's
 * file system: the directories are tried in turn (the cluster's home, then the temporary
 * directory), and a block whose file none can link is uploaded as before. The put's directories
 * are scratch (lib/scratch.ts): removed at its end, on Ctrl-C, and by the next put on this host
 * after a put killed outright.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import { makeScratchDir, removeScratchDir } from '../lib/scratch.ts';

export class HandOverLinks {
  readonly #bases: string[];
  /** Per base directory: the put's own directory in it, or null when none can be made there. */
  readonly #made = new Map<string, Promise<string | null>>();
  #closed = false;

  /** Local files no base directory could link (the put's later blocks of them are uploaded at once). */
  readonly #unlinkable = new Set<string>();
  /** Nodes that did not take a block handed over (its later blocks are uploaded to them at once). */
  readonly #refusers = new Set<string>();

  constructor(bases: readonly string[]) {
    this.#bases = [...new Set(bases.map((b) => path.resolve(b)))];
  }

  /** Whether block of local `file` may be handed to node `trackerId` (neither has failed a hand-over in this put). */
  worthTrying(file: string, trackerId: string): boolean {
    return !this.#unlinkable.has(file) && !this.#refusers.has(trackerId);
  }

  /** Node `trackerId` did not take a block handed over. */
  refusedBy(trackerId: string): void {
    this.#refusers.add(trackerId);
  }

  /**
   * A link named `digest` to `file`, for block `index`, and how to remove it; undefined when no
   * base directory can hold one (another file system, no right to link the file, a full disk).
   */
  async link(file: string, index: number, digest: string): Promise<{ path: string; remove: () => Promise<void> } | undefined> {
    for (const base of this.#bases) {
      const dir = await this.#dirIn(base);
      if (!dir) continue;
      const own = path.join(dir, String(index));
      try {
        await fsp.mkdir(own);
        await fsp.link(file, path.join(own, digest));
        return { path: path.join(own, digest), remove: () => fsp.rm(own, { recursive: true, force: true }) };
      } catch {
        await fsp.rm(own, { recursive: true, force: true }).catch(() => {});
      }
    }
    this.#unlinkable.add(file);
    return undefined;
  }

  /** Removes every directory the put made. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const dir of await Promise.all(this.#made.values())) if (dir) await removeScratchDir(dir).catch(() => {});
  }

  #dirIn(base: string): Promise<string | null> {
    if (this.#closed) return Promise.resolve(null);
    let dir = this.#made.get(base);
    if (!dir) {
      dir = makeScratchDir(base, 'bftmr-handover-').catch(() => null);
      this.#made.set(base, dir);
    }
    return dir;
  }
}
