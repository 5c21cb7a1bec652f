/**
 * The gRPC adapter: the only file that imports @grpc/grpc-js and @grpc/proto-loader.
 * Status mapping lives here: a BftmrError crosses the wire as its code (metadata `bftmr-code`)
 * and its message, and comes out on the other side as the same BftmrError.
 *
 * Every channel is mutual TLS with the cluster CA (lib/identity.ts). A process sets its
 * credentials once (`useCredentials`); servers then require a client certificate of the cluster,
 * hand each handler the verified `Peer`, and refuse roles a method does not allow; clients check
 * that the server's certificate has the role of the service they called (only the job tracker's
 * certificate can answer as the job tracker).
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';
import { once } from 'node:events';
import { BftmrError, type ErrorCode } from './errors.ts';
import { MB } from './options.ts';
import { ROLES, describe, peerOf, type Credentials, type Peer, type Role } from './identity.ts';

const PROTO_DIR = fileURLToPath(new URL('../protos/', import.meta.url));

const packageDefinition = protoLoader.loadSync(['jobtracker.proto', 'tasktracker.proto'], {
  includeDirs: [PROTO_DIR],
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  arrays: true,
  oneofs: true,
});
/** A message already in its protobuf encoding (see dfs/chunk_codec.ts): sent as it is. */
export type Encoded<T> = Buffer & { readonly __encodes?: T };

// Every message is an object; a Buffer given as one is already encoded.
const passEncoded = (serialize: (value: unknown) => Buffer) => (value: unknown) => (Buffer.isBuffer(value) ? value : serialize(value));
for (const def of Object.values(packageDefinition)) {
  if ('format' in def) continue; // a message type, not a service
  for (const method of Object.values(def as grpc.ServiceDefinition)) {
    method.requestSerialize = passEncoded(method.requestSerialize);
    method.responseSerialize = passEncoded(method.responseSerialize);
  }
}
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const pkg = (grpc.loadPackageDefinition(packageDefinition) as any).bftmr;

export type ServiceName = 'JobTracker' | 'TaskTracker';

const MAX_MESSAGE_BYTES = 64 * MB;

const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
  'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 1,
  // Bulk transfers are server-streaming and pulled by the receiver: give it a large window.
  'grpc-node.flow_control_window': 32 * MB,
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1_000,
};

const SERVER_OPTIONS: grpc.ChannelOptions = {
  ...CHANNEL_OPTIONS,
  'grpc.http2.min_ping_interval_without_data_ms': 5_000,
} as grpc.ChannelOptions;

const CODE_KEY = 'bftmr-code';

/** The role whose certificate may serve each service. */
const SERVER_ROLE: Record<ServiceName, Role> = { JobTracker: 'jobtracker', TaskTracker: 'tasktracker' };

let processCredentials: Credentials | undefined;

/** This process's identity, for every server it starts and every client it makes from now on. */
export function useCredentials(creds: Credentials): void {
  processCredentials = creds;
}

/** Who this process is, from its certificate. */
export function ownIdentity(): Peer {
  const peer = describe(credentialsOrThrow().cert);
  if (!peer) throw new BftmrError('AUTH_NO_CREDENTIALS', 'this process\'s certificate names no role of the cluster');
  return peer;
}

function credentialsOrThrow(given?: Credentials): Credentials {
  const c = given ?? processCredentials;
  if (!c) throw new BftmrError('AUTH_NO_CREDENTIALS', 'this process has no cluster credentials (internal: useCredentials was not called)');
  return c;
}

// ---------- errors across the wire ----------

function toServiceError(e: unknown): Partial<grpc.ServiceError> {
  const metadata = new grpc.Metadata();
  if (e instanceof BftmrError) {
    metadata.set(CODE_KEY, e.code);
    const status = e.code.endsWith('NOT_FOUND') ? grpc.status.NOT_FOUND
      : e.code === 'DFS_EXISTS' ? grpc.status.ALREADY_EXISTS
      : e.code === 'UNAVAILABLE' ? grpc.status.UNAVAILABLE
      : e.code === 'AUTH_DENIED' ? grpc.status.PERMISSION_DENIED
      : grpc.status.FAILED_PRECONDITION;
    return { code: status, details: e.message, metadata };
  }
  metadata.set(CODE_KEY, 'INTERNAL');
  return { code: grpc.status.INTERNAL, details: e instanceof Error ? e.message : String(e), metadata };
}

function fromServiceError(e: grpc.ServiceError, address: string, method: string): BftmrError {
  const code = e.metadata?.get(CODE_KEY)?.[0];
  // LOCAL_IO is this process's own disk failing: a peer that says so (honestly about its disk, or
  // to make a writer give up instead of trying another node) failed the call, no more.
  if (code === 'LOCAL_IO') return new BftmrError('INTERNAL', `${method} to ${address} failed: ${e.details}`, { cause: e });
  if (typeof code === 'string') return new BftmrError(code as ErrorCode, e.details, { cause: e });
  if (e.code === grpc.status.UNAVAILABLE) {
    // A node of this cluster in another role answered (a tracker's address given for the job tracker's, say): the credentials are fine.
    const tls = new RegExp(`presented a certificate for (${ROLES.join('|')}) `).test(e.details) ? '; that address is another node\'s'
      : /certificate|handshake|alert|ssl|tls/i.test(e.details) ? '; check that this node\'s credentials come from the cluster\'s CA' : '';
    return new BftmrError('UNAVAILABLE', `cannot reach ${address} (${e.details.replace(/ Resolution note: ?$/, '')})${tls}`, { cause: e });
  }
  if (e.code === grpc.status.DEADLINE_EXCEEDED) {
    return new BftmrError('UNAVAILABLE', `${address} did not answer ${method} in time`, { cause: e });
  }
  if (e.code === grpc.status.CANCELLED) {
    return new BftmrError('UNAVAILABLE', `${method} to ${address} was cancelled`, { cause: e });
  }
  return new BftmrError('INTERNAL', `${method} to ${address} failed: ${e.details || e.message}`, { cause: e });
}

/**
 * Whether `e` is a peer's silence: it could not be reached, or did not answer in time; not an
 * error it answered with (which would carry its own code).
 */
export function isSilence(e: unknown): boolean {
  const code = transportStatus(e);
  return code === grpc.status.UNAVAILABLE || code === grpc.status.DEADLINE_EXCEEDED;
}

/**
 * Whether `e` failed a call on the way (the connection, a deadline, a stream reset) rather than by
 * an error the peer answered with: what may pass if the call is made again.
 */
export function isTransportFailure(e: unknown): boolean {
  return transportStatus(e) !== undefined;
}

/** The gRPC status of a call that failed without an answer from the peer (its error code), if it did. */
function transportStatus(e: unknown): grpc.status | undefined {
  const cause = (e as { cause?: Partial<grpc.ServiceError> } | undefined)?.cause;
  if (!(e instanceof BftmrError) || !cause || typeof cause.code !== 'number' || cause.metadata?.get(CODE_KEY)?.length) return undefined;
  return cause.code;
}

// ---------- servers ----------

/** `signal`: aborted when the caller cancels the call or its deadline passes. */
export type UnaryImpl<Req, Res> = (req: Req, peer: Peer, signal: AbortSignal) => Promise<Res>;
export type ServerStreamImpl<Req, Res> = (req: Req, signal: AbortSignal, peer: Peer) => AsyncIterable<Res | Encoded<Res>>;
export type ClientStreamImpl<Req, Res> = (reqs: AsyncIterable<Req>, peer: Peer) => Promise<Res>;

/** Called once gRPC has copied an encoded message out (so its memory may be used again). */
export type Sent = (msg: Buffer) => void;

/** The write callback that tells `sent` of an encoded message. */
const afterWrite = (sent: Sent | undefined, msg: unknown) => (sent && Buffer.isBuffer(msg) ? () => sent(msg) : undefined);

export type Handler =
  | { kind: 'unary'; impl: UnaryImpl<any, any> }
  | { kind: 'serverStream'; impl: ServerStreamImpl<any, any>; sent?: Sent }
  | { kind: 'clientStream'; impl: ClientStreamImpl<any, any> };

export const unary = <Req, Res>(impl: UnaryImpl<Req, Res>): Handler => ({ kind: 'unary', impl });
export const serverStream = <Req, Res>(impl: ServerStreamImpl<Req, Res>, sent?: Sent): Handler => ({ kind: 'serverStream', impl, sent });
export const clientStream = <Req, Res>(impl: ClientStreamImpl<Req, Res>): Handler => ({ kind: 'clientStream', impl });

/** The verified peer of a call, if its certificate has a role allowed to make it. */
function authorize(call: Pick<grpc.ServerUnaryCall<unknown, unknown>, 'getAuthContext' | 'getPeer'>, method: string, allowed: readonly Role[]): Peer {
  const peer = peerOf(call.getAuthContext()?.sslPeerCertificate?.subject as Record<string, string> | undefined);
  if (!peer) throw new BftmrError('AUTH_DENIED', `${method}: the caller has no certificate of this cluster`);
  requireRole(peer, method, allowed);
  return { ...peer, address: call.getPeer() };
}

/** Refuses `peer` what (`what`) only `allowed` roles may do: a call, or what a handler sees only in the request. */
export function requireRole(peer: Peer, what: string, allowed: readonly Role[]): void {
  if (allowed.includes(peer.role)) return;
  const admins = peer.role === 'client' && allowed.includes('admin') ? ' (it is for the cluster\'s admins: `cluster credentials --role admin`)' : '';
  throw new BftmrError('AUTH_DENIED', `${what} is not allowed for ${peer.role} ${peer.name}${admins}`);
}

function adapt(h: Handler, method: string, allowed: readonly Role[]): grpc.UntypedHandleCall {
  switch (h.kind) {
    case 'unary':
      return (call: grpc.ServerUnaryCall<any, any>, cb: grpc.sendUnaryData<any>) => {
        const ac = new AbortController();
        call.on('cancelled', () => ac.abort());
        Promise.resolve().then(() => h.impl(call.request, authorize(call, method, allowed), ac.signal))
          .then((res) => cb(null, res), (e) => cb(toServiceError(e)));
      };
    case 'clientStream':
      return (call: grpc.ServerReadableStream<any, any>, cb: grpc.sendUnaryData<any>) => {
        Promise.resolve().then(() => h.impl(call as AsyncIterable<any>, authorize(call, method, allowed)))
          .then((res) => cb(null, res), (e) => cb(toServiceError(e)));
      };
    case 'serverStream':
      return (call: grpc.ServerWritableStream<any, any>) => {
        const ac = new AbortController();
        call.on('cancelled', () => ac.abort());
        const { sent } = h;
        (async () => {
          const peer = authorize(call, method, allowed);
          for await (const msg of h.impl(call.request, ac.signal, peer)) {
            if (ac.signal.aborted) return;
            if (!call.write(msg, afterWrite(sent, msg))) await Promise.race([once(call, 'drain'), once(ac.signal, 'abort')]);
          }
          call.end();
        })().catch((e) => {
          // 'error' (not destroy) is how grpc-js ends a server stream with a status the client sees.
          if (!ac.signal.aborted) call.emit('error', toServiceError(e));
        });
      };
  }
}

export interface RpcServer {
  port: number;
  /** Stops accepting calls and waits (at most graceMs) for running ones. */
  close(graceMs?: number): Promise<void>;
}

/**
 * Serves `handlers` over mutual TLS with this process's credentials. `allow(method)` names the
 * roles that may call each method.
 */
export async function startServer(
  listen: string, service: ServiceName, handlers: Record<string, Handler>, allow: (method: string) => readonly Role[],
): Promise<RpcServer> {
  const creds = credentialsOrThrow();
  const server = new grpc.Server(SERVER_OPTIONS);
  const impl: grpc.UntypedServiceImplementation = {};
  for (const [name, h] of Object.entries(handlers)) impl[name] = adapt(h, name, allow(name));
  server.addService(pkg[service].service, impl);
  const tls = grpc.ServerCredentials.createSsl(Buffer.from(creds.ca),
    [{ private_key: Buffer.from(creds.key), cert_chain: Buffer.from(creds.cert) }], true);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(listen, tls, (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    port,
    close: (graceMs = 2_000) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => { server.forceShutdown(); resolve(); }, graceMs);
        server.tryShutdown(() => { clearTimeout(timer); resolve(); });
      }),
  };
}

// ---------- clients ----------

export class RpcClient {
  readonly address: string;
  readonly #client: grpc.Client & Record<string, any>;

  /** `credentials` defaults to this process's own (see useCredentials). */
  constructor(service: ServiceName, address: string, credentials?: Credentials) {
    this.address = address;
    const creds = credentialsOrThrow(credentials);
    const expected = SERVER_ROLE[service];
    const tls = grpc.credentials.createSsl(Buffer.from(creds.ca), Buffer.from(creds.key), Buffer.from(creds.cert), {
      // The CA's signature is checked by TLS; the identity check is that the server holds a
      // certificate of the role this service needs (addresses are not names in a cluster).
      checkServerIdentity: (_host, cert) => {
        const peer = peerOf(cert.subject as unknown as Record<string, string>);
        return peer?.role === expected ? undefined
          : new Error(`${address} presented a certificate for ${peer ? `${peer.role} ${peer.name}` : 'no cluster node'}, not a ${expected}`);
      },
    });
    // TLS server names cannot be IP addresses (RFC 6066): name the role instead; see checkServerIdentity.
    this.#client = new pkg[service](address, tls, { ...CHANNEL_OPTIONS, 'grpc.ssl_target_name_override': expected });
  }

  /** One request, one reply, with a deadline. */
  /** A unary call; `signal` cancels it. */
  call<Req, Res>(method: string, req: Req, deadlineMs: number, signal?: AbortSignal): Promise<Res> {
    return new Promise((resolve, reject) => {
      const call: grpc.ClientUnaryCall = this.#client[method](req, { deadline: Date.now() + deadlineMs }, (err: grpc.ServiceError | null, res: Res) => {
        signal?.removeEventListener('abort', cancel);
        if (err) reject(fromServiceError(err, this.address, method));
        else resolve(res);
      });
      const cancel = () => call.cancel();
      signal?.addEventListener('abort', cancel, { once: true });
    });
  }

  /** Server streaming: the caller pulls messages; abandoning the loop, or `signal`, cancels the call. */
  async *stream<Req, Res>(method: string, req: Req, deadlineMs: number, signal?: AbortSignal): AsyncGenerator<Res> {
    const call: grpc.ClientReadableStream<Res> = this.#client[method](req, { deadline: Date.now() + deadlineMs });
    const cancel = () => call.cancel();
    signal?.addEventListener('abort', cancel, { once: true });
    try {
      for await (const msg of call) yield msg as Res;
    } catch (e) {
      throw fromServiceError(e as grpc.ServiceError, this.address, method);
    } finally {
      signal?.removeEventListener('abort', cancel);
      call.cancel();
    }
  }

  /** Client streaming: write messages (respecting backpressure), then wait for the one reply. `sent` as for serverStream(). */
  upload<Req, Res>(method: string, deadlineMs: number, sent?: Sent):
    { write(msg: Req | Encoded<Req>): Promise<void>; finish(): Promise<Res>; cancel(): void } {
    let settled: Promise<Res>;
    let call!: grpc.ClientWritableStream<Req | Encoded<Req>>;
    settled = new Promise<Res>((resolve, reject) => {
      call = this.#client[method]({ deadline: Date.now() + deadlineMs }, (err: grpc.ServiceError | null, res: Res) =>
        err ? reject(fromServiceError(err, this.address, method)) : resolve(res),
      );
    });
    settled.catch(() => {}); // observed by finish()
    return {
      write: async (msg) => {
        if (!call.write(msg, afterWrite(sent, msg))) await Promise.race([once(call, 'drain'), settled]);
      },
      finish: () => { call.end(); return settled; },
      cancel: () => call.cancel(),
    };
  }

  close(): void {
    this.#client.close();
  }
}
