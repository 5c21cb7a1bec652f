import test from 'ava';
import os from 'node:os';
import { hostOf, onThisHost } from '../lib/hosts.ts';

test('an address names its host, IPv6 in brackets too', (t) => {
  t.is(hostOf('127.0.0.1:7070'), '127.0.0.1');
  t.is(hostOf('[::1]:7070'), '::1');
  t.is(hostOf('node-a.example:1'), 'node-a.example');
});

test('loopback, this host\'s name and its interfaces\' addresses are this host; others are not', (t) => {
  // (As a server sees its callers too: `::1:port`, and IPv4 on a dual-stack socket `::ffff:127.0.0.1:port`.)
  for (const a of ['127.0.0.1:1', '127.3.4.5:1', 'localhost:1', '[::1]:1', `${os.hostname()}:1`, '::1:54321', '::ffff:127.0.0.1:54321']) t.true(onThisHost(a), a);
  const own = Object.values(os.networkInterfaces()).flat().find((i) => i && i.family === 'IPv4');
  if (own) t.true(onThisHost(`${own.address}:9`), own.address);
  // TEST-NET addresses (RFC 5737), never a host's own.
  for (const a of ['192.0.2.1:1', '198.51.100.7:1', 'elsewhere.invalid:1', '::ffff:192.0.2.1:54321']) t.false(onThisHost(a), a);
});
