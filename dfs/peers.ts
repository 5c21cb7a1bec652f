/**
 * One gRPC client per storage node address, shared by everything in a process; and which nodes
 * went silent on it lately (a read or a write that stalled), which are tried last meanwhile, as
 * HDFS's client keeps its "dead nodes": a node that froze costs one stall, not one per block.
 */
import { RpcClient } from '../lib/rpc.ts';
import type { Credentials } from '../lib/identity.ts';

/** How long a node that went silent is tried last (and not asked to take new copies). */
export const SILENT_FOR_MS = 60_000;

interface Node { address: string; tracker_id?: string }

export class Peers {
  readonly #clients = new Map<string, RpcClient>();
  readonly #credentials: Credentials | undefined;
  /** address -> until when it is taken as silent, and its tracker id if known. */
  readonly #silent = new Map<string, { untilMs: number; trackerId?: string }>();
  readonly #now: () => number;

  /** `credentials` defaults to the process's own (lib/rpc.ts useCredentials). */
  constructor(credentials?: Credentials, now: () => number = Date.now) {
    this.#credentials = credentials;
    this.#now = now;
  }

  /** `node` stalled a transfer: it is tried last for a while. */
  silenced(node: Node): void {
    const trackerId = node.tracker_id || this.#silent.get(node.address)?.trackerId; // a reader may know only its address
    this.#silent.set(node.address, { untilMs: this.#now() + SILENT_FOR_MS, trackerId });
  }

  /** `node` delivered: it is no longer taken as silent. */
  heard(node: Node): void {
    this.#silent.delete(node.address);
  }

  isSilent(node: Node): boolean {
    const s = this.#silent.get(node.address);
    if (s && s.untilMs <= this.#now()) this.#silent.delete(node.address);
    return this.#silent.has(node.address);
  }

  /** `nodes` with the silent ones last, each group in its own order. */
  silentLast<T extends Node>(nodes: readonly T[]): T[] {
    const silent = nodes.filter((n) => this.isSilent(n));
    return silent.length ? [...nodes.filter((n) => !silent.includes(n)), ...silent] : [...nodes];
  }

  /** The tracker ids of the nodes taken as silent now (a writer asks for other nodes). */
  silentIds(): string[] {
    return [...this.#silent.entries()].filter(([address]) => this.isSilent({ address })).flatMap(([, s]) => (s.trackerId ? [s.trackerId] : []));
  }

  get(address: string): RpcClient {
    let c = this.#clients.get(address);
    if (!c) {
      c = new RpcClient('TaskTracker', address, this.#credentials);
      this.#clients.set(address, c);
    }
    return c;
  }

  close(): void {
    for (const c of this.#clients.values()) c.close();
    this.#clients.clear();
  }
}
