#!/usr/bin/env node
// Entry point of the `bftmr` command: paces V8's full collections, then runs the CLI.
import { setFlagsFromString } from 'node:v8';
import { cliBundle } from './cli_bundle.js';

// V8 counts the external memory (Buffers' bytes) allocated since the last full collection
// against the old generation's limit, which it sets only about 8 MB plus the new space above
// the live heap when the heap is small, as every bftmr process's is. Moving blocks allocates
// 1 MB buffers (gRPC's messages, http2's reads) faster than scavenges free them (V8 runs one
// per ~32 MB of young buffers), so a node moving data started a full collection every ~60 ms:
// 150 per GB stored, a fifth of a put's CPU. Growing the limit by a fixed factor of 3 leaves
// room for the bytes in flight (a put of 1 GB: 15.6 -> 11.5 s; a get: 5.0 -> 3.9 s). It applies to
// the whole process, task threads included, whose heaps grow further between collections too
// (they stay under --task-memory-mb). A factor of 4 was no faster and cost more memory: a 1 GB
// word count's task trackers peaked at 692-796 MB instead of 577-647, a storage node once at
// 305 MB during a put (217-252 MB at 3, in three runs).
setFlagsFromString('--heap-growing-percent=200');

// The CLI bundled (bin/cli_bundle.js), or, when it cannot be, its sources through tsx.
const bundle = await cliBundle();
if (bundle) {
  if (process.env.BFTMR_DEBUG) process.setSourceMapsEnabled(true); // stack traces in the TypeScript sources
  await import(bundle);
} else {
  (await import('tsx/esm/api')).register();
  await import('../cli/main.ts');
}
