/** Which host an address names: this one, or another. */
import os from 'node:os';

/** A host that is this host only (loopback). */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || host === '::1' || /^127\./.test(host);
}

/** The host part of `host:port` (`[v6]:port` gives `v6`). */
export function hostOf(address: string): string {
  if (address.startsWith('[')) return address.slice(1, address.indexOf(']'));
  const colon = address.lastIndexOf(':');
  return colon < 0 ? address : address.slice(0, colon);
}

let ownNames: Set<string> | undefined;

/** Whether `address` (`host:port`) reaches this host: loopback, this host's name, or one of its interfaces' addresses. */
export function onThisHost(address: string): boolean {
  // An IPv4 peer as a dual-stack server sees it (grpc-js's getPeer(): `::ffff:127.0.0.1:port`) is
  // that IPv4 address; an IPv6 address's zone (`%eth0`) is not part of it.
  const host = hostOf(address).toLowerCase().replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '').replace(/%.*$/, '');
  if (isLoopback(host)) return true;
  if (!ownNames) {
    ownNames = new Set([os.hostname().toLowerCase()]);
    try {
      for (const list of Object.values(os.networkInterfaces())) for (const i of list ?? []) ownNames.add(i.address.toLowerCase());
    } catch {
      // Interfaces that cannot be listed (a sandbox): loopback and the host's name only.
    }
  }
  return ownNames.has(host);
}
