/**
 * Authentication on real processes: every channel is mutual TLS with the cluster CA that
 * `cluster start` creates, and a node's name and role come from its certificate.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { BftmrError } from '../lib/errors.ts';
import { BUILD_ID } from '../lib/build.ts';
import { createAuthority, issue, readCredentials, type Credentials } from '../lib/identity.ts';
import { RpcClient } from '../lib/rpc.ts';
import type * as M from '../lib/messages.ts';
import { ROOT, bftmr, tempDir } from './helpers/cli.ts';

const home = tempDir('bftmr-auth-');
let jt = '';
let trackerCreds: Credentials;
let clientCreds: Credentials;

test.before(async (t) => {
  const start = await bftmr(home, 'cluster', 'start', '--trackers', '3', '--slots', '1');
  t.is(start.code, 0, start.stderr);
  const status = JSON.parse((await bftmr(home, 'cluster', 'status', '--json')).stdout);
  jt = status.job_tracker.address;
  t.deepEqual(status.trackers.map((x: { id: string }) => x.id).sort(), ['tracker-0', 'tracker-1', 'tracker-2']);
  trackerCreds = await readCredentials(path.join(home, 'tracker-0', 'tls'));
  clientCreds = await readCredentials(path.join(home, 'client', 'tls'));
});

test.after.always(async () => {
  await bftmr(home, 'cluster', 'stop');
});

async function callAs<Res>(creds: Credentials, method: string, req: unknown, service: 'JobTracker' | 'TaskTracker' = 'JobTracker', address = jt): Promise<Res> {
  const c = new RpcClient(service, address, creds);
  try {
    return await c.call<unknown, Res>(method, req, 5_000);
  } finally {
    c.close();
  }
}

const heartbeat = (trackerId: string): M.HeartbeatRequest => ({ tracker_id: trackerId, free_slots: 0, reports: [], running: [], last_response_id: 0 });

test('a tracker reports only as itself: its certificate names it', async (t) => {
  const as1 = await t.throwsAsync(callAs(trackerCreds, 'Heartbeat', heartbeat('tracker-1')), { instanceOf: BftmrError });
  t.is(as1?.code, 'AUTH_DENIED');
  t.regex(as1!.message, /tracker-0 cannot report as tracker-1/);
  const reg = await t.throwsAsync(callAs(trackerCreds, 'Register', {
    tracker_id: 'tracker-2', address: '127.0.0.1:1', slots: 1, pid: 1, fault: '', blocks: [],
  }), { instanceOf: BftmrError });
  t.is(reg?.code, 'AUTH_DENIED');
  // The same credentials do heartbeat as tracker-0: the refusal above is about the name alone.
  const own = await callAs<M.HeartbeatReply>(trackerCreds, 'Heartbeat', heartbeat('tracker-0'));
  t.false(own.reregister);
});

test('a tracker of another build is refused at register, naming both builds', async (t) => {
  const e = await t.throwsAsync(callAs(trackerCreds, 'Register', {
    tracker_id: 'tracker-0', address: '127.0.0.1:1', slots: 1, pid: 1, fault: '', blocks: [], build: 'not-this-one',
  }), { instanceOf: BftmrError });
  t.is(e?.code, 'CLUSTER_BUILD_MISMATCH');
  t.true(e!.message.includes(`tasktracker tracker-0 runs build not-this-one and this job tracker runs ${BUILD_ID}`), e!.message);
  // tracker-0 itself, of this build, is still registered and heartbeats.
  t.false((await callAs<M.HeartbeatReply>(trackerCreds, 'Heartbeat', heartbeat('tracker-0'))).reregister);
});

test('roles are enforced: a tracker cannot act as a client, a client cannot heartbeat', async (t) => {
  for (const method of ['ClusterStatus', 'ListJobs', 'Shutdown']) {
    const e = await t.throwsAsync(callAs(trackerCreds, method, {}), { instanceOf: BftmrError });
    t.is(e?.code, 'AUTH_DENIED', method);
  }
  const e = await t.throwsAsync(callAs(clientCreds, 'Heartbeat', heartbeat('cli')), { instanceOf: BftmrError });
  t.is(e?.code, 'AUTH_DENIED');
  t.is((await callAs<M.ListJobsReply>(clientCreds, 'ListJobs', {})).jobs.length, 0);
  // A tracker's certificate cannot answer for the job tracker: the client checks the server's role.
  const status = JSON.parse((await bftmr(home, 'cluster', 'status', '--json')).stdout);
  const impostor = await t.throwsAsync(callAs(clientCreds, 'ListJobs', {}, 'JobTracker', status.trackers[0].address), { instanceOf: BftmrError });
  t.is(impostor?.code, 'UNAVAILABLE');
  t.regex(impostor!.message, /presented a certificate for tasktracker tracker-\d, not a jobtracker.*; that address is another node's$/);
});

test('a tracker only reads its peers\' blocks (or asks where their files are): it cannot store blocks on them, have them pull, or read their attempt logs', async (t) => {
  const status = JSON.parse((await bftmr(home, 'cluster', 'status', '--json')).stdout);
  const peer = status.trackers.find((x: { id: string }) => x.id === 'tracker-1').address;
  const asTracker = new RpcClient('TaskTracker', peer, trackerCreds);
  const asClient = new RpcClient('TaskTracker', peer, clientCreds);
  try {
    const store = (c: RpcClient) => {
      const up = c.upload<M.BlockChunk, M.WriteBlockReply>('WriteBlock', 5_000);
      return up.write({ data: Buffer.from('x'), xxh32: 0, digest: '', last: false }).then(() => up.finish());
    };
    const e = await t.throwsAsync(store(asTracker), { instanceOf: BftmrError });
    t.is(e?.code, 'AUTH_DENIED', 'WriteBlock');
    const missing = { digest: 'ab'.repeat(32), size: 1, sources: [] };
    for (const [method, req] of [['PullBlock', missing], ['AttemptLog', { attempt_id: 'attempt_x', job_id: 'job_x' }]] as const) {
      const denied = await t.throwsAsync(asTracker.call(method, req, 5_000), { instanceOf: BftmrError });
      t.is(denied?.code, 'AUTH_DENIED', method);
      // A client may: what it gets is about the request, not who asks.
      const other = await asClient.call(method, req, 5_000).then(() => undefined, (err: BftmrError) => err);
      t.not(other?.code, 'AUTH_DENIED', method);
    }
    // Reads stay open to trackers (the shuffle and repairs, which read a peer's file on the same
    // host): refused for the missing block, not the caller.
    const read = await t.throwsAsync((async () => { for await (const _ of asTracker.stream('ReadBlock', { digest: 'ab'.repeat(32) }, 5_000)) { /* none */ } })(),
      { instanceOf: BftmrError });
    t.not(read?.code, 'AUTH_DENIED');
    const locate = await t.throwsAsync(asTracker.call('LocateBlock', { digest: missing.digest }, 5_000), { instanceOf: BftmrError });
    t.is(locate?.code, 'DFS_NOT_FOUND');
  } finally {
    asTracker.close();
    asClient.close();
  }
});

test('a client certificate uses the cluster but does not run it: decommission, starting or stopping the balancer and shutdown are for admins (the home\'s own CLI)', async (t) => {
  const dir = path.join(tempDir('bftmr-auth-client-'), 'alice');
  const issued = await bftmr(home, 'cluster', 'credentials', '--role', 'client', '--name', 'alice', '--out', dir);
  t.is(issued.code, 0, issued.stderr);
  const alice = await readCredentials(dir);
  t.is((await callAs<M.ClusterStatusReply>(alice, 'ClusterStatus', {})).trackers.length, 3);
  for (const [method, req, what] of [['Decommission', {}, 'Decommission'], ['Shutdown', {}, 'Shutdown'],
    ['Balance', { action: 'START', threshold_percent: 10 }, 'Balance START'], ['Balance', { action: 'STOP' }, 'Balance STOP']] as const) {
    const e = await t.throwsAsync(callAs(alice, method, req), { instanceOf: BftmrError });
    t.is(e?.code, 'AUTH_DENIED', what);
    t.regex(e!.message, new RegExp(`${what} is not allowed for client alice \\(it is for the cluster's admins`));
  }
  // How balanced the dfs is, anyone may ask.
  t.false((await callAs<M.BalanceReply>(alice, 'Balance', { action: 'STATUS' })).active);
  const status = JSON.parse((await bftmr(home, 'cluster', 'status', '--json')).stdout);
  const tracker = status.trackers[0].address;
  const e = await t.throwsAsync(callAs(alice, 'Shutdown', {}, 'TaskTracker', tracker), { instanceOf: BftmrError });
  t.is(e?.code, 'AUTH_DENIED');
  // The home's own CLI is an admin: it may (a balance status query changes nothing).
  t.is((await bftmr(home, 'dfs', 'balance', '--status')).code, 0);
  t.true(JSON.parse((await bftmr(home, 'cluster', 'status', '--json')).stdout).trackers.every((x: { alive: boolean }) => x.alive), 'every tracker still runs');
});

test('a process without the cluster\'s credentials is refused', async (t) => {
  // Certificates of another CA.
  const foreign = issue(createAuthority(), 'client', 'cli');
  const e = await t.throwsAsync(callAs(foreign, 'ListJobs', {}), { instanceOf: BftmrError });
  t.is(e?.code, 'UNAVAILABLE');
  const stranger = issue(createAuthority(), 'tasktracker', 'tracker-0');
  t.is((await t.throwsAsync(callAs(stranger, 'Heartbeat', heartbeat('tracker-0')), { instanceOf: BftmrError }))?.code, 'UNAVAILABLE');

  // No certificate at all (TLS that trusts the CA), and no TLS at all.
  const raw = (creds: grpc.ChannelCredentials) => new Promise<grpc.ServiceError | null>((resolve) => {
    const c = new grpc.Client(jt, creds, { 'grpc.ssl_target_name_override': 'jobtracker' });
    c.makeUnaryRequest('/bftmr.JobTracker/ListJobs', () => Buffer.alloc(0), (b: Buffer) => b, {},
      { deadline: Date.now() + 5_000 }, (err) => { c.close(); resolve(err); });
  });
  const noCert = await raw(grpc.credentials.createSsl(Buffer.from(clientCreds.ca), null, null, { checkServerIdentity: () => undefined }));
  t.truthy(noCert, 'a TLS client without a certificate is refused');
  t.not(noCert?.code, grpc.status.OK);
  const plain = await raw(grpc.credentials.createInsecure());
  t.truthy(plain, 'a plaintext client is refused');
  // The cluster still works for its own client.
  t.is((await bftmr(home, 'cluster', 'status')).code, 0);
});

test('cluster credentials: a tracker on "another host" joins with an issued certificate; a foreign one cannot', async (t) => {
  const dir = tempDir('bftmr-extra-');
  const issued = await bftmr(home, 'cluster', 'credentials', '--name', 'extra-1', '--out', path.join(dir, 'tls'));
  t.is(issued.code, 0, issued.stderr);
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/bftmr.js'), 'tasktracker', '--jobtracker', jt, '--dir', dir, '--slots', '1'],
    { stdio: 'ignore' });
  try {
    let ids: string[] = [];
    for (let i = 0; i < 100 && !ids.includes('extra-1'); i++) {
      await sleep(100);
      ids = JSON.parse((await bftmr(home, 'cluster', 'status', '--json')).stdout).trackers.map((x: { id: string }) => x.id);
    }
    t.true(ids.includes('extra-1'));
    // A second certificate for a live tracker's name is refused: its holder would pass for it.
    const again = await bftmr(home, 'cluster', 'credentials', '--name', 'extra-1', '--out', path.join(dir, 'tls2'));
    t.is(again.code, 1);
    t.regex(again.stderr, /^bftmr: extra-1 is a live task tracker of this cluster \(127\.0\.0\.1:\d+\): another with its name would pass for it\n$/);
    t.false(fs.existsSync(path.join(dir, 'tls2')));
  } finally {
    child.kill('SIGKILL');
  }

  // A tracker with a certificate from another CA never registers: it exits with one clear line.
  const other = tempDir('bftmr-foreign-');
  const { writeCredentials } = await import('../lib/identity.ts');
  await writeCredentials(path.join(other, 'tls'), issue(createAuthority(), 'tasktracker', 'tracker-9'));
  const r = await bftmr(home, 'tasktracker', '--jobtracker', jt, '--dir', other);
  t.not(r.code, 0);
  t.regex(r.stderr, /^bftmr: .*(cannot reach|certificate|refused)/i);
  t.notRegex(r.stderr, /\n\s+at /, 'no stack trace');
});
