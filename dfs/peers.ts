/** One gRPC client per storage node address, shared by everything in a process. */
import { RpcClient } from '../lib/rpc.ts';
import type { Credentials } from '../lib/identity.ts';

export class Peers {
  readonly #clients = new Map<string, RpcClient>();
  readonly #credentials: Credentials | undefined;

  /** `credentials` defaults to the process's own (lib/rpc.ts useCredentials). */
  constructor(credentials?: Credentials) {
    this.#credentials = credentials;
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
