/**
 * Node identities: a cluster certificate authority and the X.509 certificates it issues, one per
 * node (the job tracker, each task tracker, each client). Every channel is mutual TLS: a peer is
 * whoever holds a private key whose certificate the cluster CA signed, and its name and role come
 * from that certificate's subject (CN = name, OU = role). Nothing here talks to the network.
 *
 * Certificates are built with node:crypto alone (ECDSA P-256, SHA-256), so `cluster start` needs no
 * openssl binary: a small DER encoder writes the few X.509 structures we need.
 */
import crypto from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { BftmrError } from './errors.ts';

/**
 * `client`: a user of the cluster (dfs and jobs); `admin`: a client that may also run the cluster
 * (decommission, balance, shut nodes down), as HDFS keeps those for its superuser. `cluster start`
 * gives its home's CLI an admin certificate; `cluster credentials` issues either.
 */
export type Role = 'jobtracker' | 'tasktracker' | 'admin' | 'client';
export const ROLES: readonly Role[] = ['jobtracker', 'tasktracker', 'admin', 'client'];
/** Whoever may use the cluster's dfs and run jobs. */
export const USERS: readonly Role[] = ['client', 'admin'];

/** What a server knows about the peer of a call, from its verified certificate. */
export interface Peer {
  role: Role;
  name: string;
  /** Where a call came from (host:port), as the server saw it; absent for a peer not met on a call. */
  address?: string;
}

/** PEM texts a process needs to speak mutual TLS. */
export interface Credentials {
  ca: string;
  key: string;
  cert: string;
}

// ---------- DER ----------

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
const tlv = (tag: number, ...content: Buffer[]) => {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), len(body.length), body]);
};
const seq = (...c: Buffer[]) => tlv(0x30, ...c);
const set = (...c: Buffer[]) => tlv(0x31, ...c);
const explicit = (n: number, ...c: Buffer[]) => tlv(0xa0 + n, ...c);
const octets = (b: Buffer) => tlv(0x04, b);
const bits = (b: Buffer) => tlv(0x03, Buffer.from([0]), b);
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, 'utf8'));
const bool = (v: boolean) => tlv(0x01, Buffer.from([v ? 0xff : 0]));
function integer(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  const v = b.subarray(i);
  return tlv(0x02, v[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v);
}
function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number);
  const out = [a! * 40 + b!];
  for (const n of rest) {
    const groups: number[] = [];
    for (let v = n; ; v = Math.floor(v / 128)) { groups.unshift(v % 128); if (v < 128) break; }
    out.push(...groups.map((g, i) => (i < groups.length - 1 ? g | 0x80 : g)));
  }
  return tlv(0x06, Buffer.from(out));
}
function time(d: Date): Buffer {
  // RFC 5280: UTCTime through 2049, GeneralizedTime after.
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(iso.slice(2))) : tlv(0x18, Buffer.from(iso));
}

const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  organizationalUnit: '2.5.4.11',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
};

const name = (cluster: string, role: string, cn: string) => seq(
  set(seq(oid(OID.organization), utf8(cluster))),
  set(seq(oid(OID.organizationalUnit), utf8(role))),
  set(seq(oid(OID.commonName), utf8(cn))),
);

interface KeyPair { privateKey: crypto.KeyObject; publicKey: crypto.KeyObject }

function certificate(opts: {
  subject: Buffer; issuer: Buffer; publicKey: crypto.KeyObject; signer: crypto.KeyObject; ca: boolean; years: number;
}): string {
  const alg = seq(oid(OID.ecdsaWithSha256));
  const now = Date.now();
  const keyUsage = opts.ca ? Buffer.from([0x01, 0x06]) /* keyCertSign, cRLSign */ : Buffer.from([0x07, 0x80]) /* digitalSignature */;
  const tbs = seq(
    explicit(0, integer(Buffer.from([2]))), // v3
    integer(crypto.randomBytes(16)),
    alg,
    opts.issuer,
    seq(time(new Date(now - 3_600_000)), time(new Date(now + opts.years * 365 * 86_400_000))),
    opts.subject,
    opts.publicKey.export({ type: 'spki', format: 'der' }),
    explicit(3, seq(
      seq(oid(OID.basicConstraints), bool(true), octets(seq(...(opts.ca ? [bool(true)] : [])))),
      seq(oid(OID.keyUsage), bool(true), octets(tlv(0x03, keyUsage))),
    )),
  );
  const signature = crypto.sign('sha256', tbs, opts.signer);
  const der = seq(tbs, alg, bits(signature));
  return `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{1,64}/g, '$&\n')}-----END CERTIFICATE-----\n`;
}

const newKey = (): KeyPair => crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pemOf = (k: crypto.KeyObject) => k.export({ type: 'pkcs8', format: 'pem' }) as string;

// ---------- the cluster CA ----------

export interface Authority {
  cluster: string;
  key: string;
  cert: string;
}

const caSubject = (cluster: string) => name(cluster, 'ca', 'bftmr cluster CA');

export function createAuthority(cluster = `bftmr-${crypto.randomBytes(6).toString('hex')}`): Authority {
  const k = newKey();
  const subject = caSubject(cluster);
  return { cluster, key: pemOf(k.privateKey), cert: certificate({ subject, issuer: subject, publicKey: k.publicKey, signer: k.privateKey, ca: true, years: 10 }) };
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** A certificate and key for one node, signed by the cluster CA. */
export function issue(ca: Authority, role: Role, nodeName: string): Credentials {
  if (!NAME_RE.test(nodeName)) {
    throw new BftmrError('JOB_BAD_ARGUMENT', `'${nodeName}' is not a valid node name (letters, digits, . _ -; at most 63)`);
  }
  const k = newKey();
  const cert = certificate({
    subject: name(ca.cluster, role, nodeName),
    issuer: caSubject(ca.cluster),
    publicKey: k.publicKey,
    signer: crypto.createPrivateKey(ca.key),
    ca: false,
    years: 5,
  });
  return { ca: ca.cert, key: pemOf(k.privateKey), cert };
}

/** Name and role of a certificate the CA issued (the TLS layer has already checked the signature). */
export function peerOf(subject: Record<string, string | string[] | undefined> | undefined): Peer | undefined {
  const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
  const role = one(subject?.OU) as Role | undefined;
  const cn = one(subject?.CN);
  if (!role || !cn || !ROLES.includes(role)) return undefined;
  return { role, name: cn };
}

// ---------- on disk ----------

const FILES = { ca: 'ca.crt', key: 'node.key', cert: 'node.crt' } as const;

export async function writeCredentials(dir: string, creds: Credentials): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  await fs.writeFile(path.join(dir, FILES.ca), creds.ca);
  await fs.writeFile(path.join(dir, FILES.cert), creds.cert);
  await fs.writeFile(path.join(dir, FILES.key), creds.key, { mode: 0o600 });
}

/** Whether `dir` holds a node's credentials (its key). */
export function holdsCredentials(dir: string): boolean {
  return existsSync(path.join(dir, FILES.key));
}

export async function readCredentials(dir: string): Promise<Credentials> {
  try {
    const [ca, key, cert] = await Promise.all([FILES.ca, FILES.key, FILES.cert].map((f) => fs.readFile(path.join(dir, f), 'utf8')));
    return { ca: ca!, key: key!, cert: cert! };
  } catch (e) {
    throw new BftmrError('AUTH_NO_CREDENTIALS',
      `no credentials in ${dir} (${(e as NodeJS.ErrnoException).code ?? String(e)}); issue them with: bftmr cluster credentials`, { cause: e });
  }
}

export async function writeAuthority(dir: string, ca: Authority): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  await fs.writeFile(path.join(dir, 'ca.json'), JSON.stringify(ca) + '\n', { mode: 0o600 });
}

export async function readAuthority(dir: string): Promise<Authority | undefined> {
  try {
    return JSON.parse(await fs.readFile(path.join(dir, 'ca.json'), 'utf8')) as Authority;
  } catch {
    return undefined;
  }
}

/** The identity a certificate names, for messages and tests. */
export function describe(cert: string): Peer | undefined {
  const x = new crypto.X509Certificate(cert);
  const fields: Record<string, string> = {};
  for (const line of x.subject.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) fields[line.slice(0, i)] = line.slice(i + 1);
  }
  return peerOf(fields);
}
