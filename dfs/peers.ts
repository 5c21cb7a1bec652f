/** One gRPC client per storage node address, shared by everything in a process. */
import { RpcClient } from '../lib/rpc.ts';

export class Peers {
  readonly #clients = new Map<string, RpcClient>();

  get(address: string): RpcClient {
    let c = this.#clients.get(address);
    if (!c) {
      c = new RpcClient('TaskTracker', address);
      this.#clients.set(address, c);
    }
    return c;
  }

  close(): void {
    for (const c of this.#clients.values()) c.close();
    this.#clients.clear();
  }
}
