/**
 * Faults on demand (`--fault MODE`), so anyone can watch bftmr survive a liar. Each mode is a
 * deliberate deviation at one point of an otherwise honest tracker.
 */
import fs from 'node:fs/promises';
import { BftmrError } from '../lib/errors.ts';
import type { BlockStore } from '../dfs/block_store.ts';

export type Fault =
  | { kind: 'none' }
  | { kind: 'crash' }            // exits on its first task
  | { kind: 'hang' }             // accepts tasks, never reports them, keeps heartbeating
  | { kind: 'slow'; ms: number } // right results, ms late per attempt
  | { kind: 'corrupt-map' }      // alters its map output and reports the altered digest
  | { kind: 'corrupt-reduce' }   // the same for reduce output
  | { kind: 'lie-digest' }       // right data, wrong digest reported
  | { kind: 'serve-corrupt' }    // right digest, other bytes served to readers
  | { kind: 'equivocate' }       // different bytes to different readers
  | { kind: 'collude' }          // every colluder produces the same wrong map output
  | { kind: 'corrupt-blocks' }   // serves altered bytes of the dfs blocks it stores; runs tasks honestly
  | { kind: 'drop-blocks' };     // deletes the bytes of dfs blocks once stored, but keeps claiming them

export const FAULT_MODES = [
  'crash', 'hang', 'slow:MS', 'corrupt-map', 'corrupt-reduce', 'lie-digest', 'serve-corrupt', 'equivocate', 'collude',
  'corrupt-blocks', 'drop-blocks',
];

export function parseFault(spec: string): Fault {
  if (!spec || spec === 'none') return { kind: 'none' };
  const slow = /^slow:(\d+)$/.exec(spec);
  if (slow) return { kind: 'slow', ms: Number(slow[1]) };
  const simple = ['crash', 'hang', 'corrupt-map', 'corrupt-reduce', 'lie-digest', 'serve-corrupt', 'equivocate', 'collude',
    'corrupt-blocks', 'drop-blocks'];
  if (simple.includes(spec)) return { kind: spec } as Fault;
  throw new BftmrError('JOB_BAD_ARGUMENT', `unknown fault mode '${spec}' (one of: ${FAULT_MODES.join(', ')})`);
}

/** The extra record a corrupting tracker slips into its output: its own, or the colluders' shared one. */
export function corruptionKey(fault: Fault, trackerId: string): string | undefined {
  if (fault.kind === 'collude') return 'bftmr-collusion';
  if (fault.kind === 'corrupt-map' || fault.kind === 'corrupt-reduce') return `bftmr-corrupt-${trackerId}`;
  return undefined;
}

/**
 * Alters served bytes (serve-corrupt always, equivocate on every other read, corrupt-blocks for
 * blocks of dfs files only, so that its tasks and map outputs stay honest).
 */
export function corruptServed(fault: Fault, readCount: number, chunk: Uint8Array, dfsBlock = false): Uint8Array {
  const flip = fault.kind === 'serve-corrupt' || (fault.kind === 'equivocate' && readCount % 2 === 1) ||
    (fault.kind === 'corrupt-blocks' && dfsBlock);
  if (!flip || chunk.length === 0) return chunk;
  const copy = Buffer.from(chunk);
  copy[0] = copy[0]! ^ 0xff;
  return copy;
}

/**
 * A drop-blocks tracker loses the bytes of a dfs block as soon as it has stored (and acknowledged)
 * it, while its metadata, so its block report, still claims the block.
 */
export async function dropStored(fault: Fault, store: BlockStore, digest: string): Promise<void> {
  if (fault.kind !== 'drop-blocks') return;
  const file = store.localPath(digest);
  if (file) await fs.rm(file, { force: true });
}
