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
  // Storage liars. Plain, they lie from the moment they store a dfs block (so a writer's check
  // keeps them out of every put); `:late`, they pass the first challenge of each block (the
  // writer's) and only then lie about it, like a disk that fails after the write.
  | { kind: 'corrupt-blocks'; late: boolean } // serves altered bytes of the dfs blocks it stores; runs tasks honestly
  | { kind: 'drop-blocks'; late: boolean };   // deletes the bytes of dfs blocks it stores, but keeps claiming them

export const FAULT_MODES = [
  'crash', 'hang', 'slow:MS', 'corrupt-map', 'corrupt-reduce', 'lie-digest', 'serve-corrupt', 'equivocate', 'collude',
  'corrupt-blocks[:late]', 'drop-blocks[:late]',
];

export function parseFault(spec: string): Fault {
  if (!spec || spec === 'none') return { kind: 'none' };
  const slow = /^slow:(\d+)$/.exec(spec);
  if (slow) return { kind: 'slow', ms: Number(slow[1]) };
  const storage = /^(corrupt-blocks|drop-blocks)(:late)?$/.exec(spec);
  if (storage) return { kind: storage[1] as 'corrupt-blocks' | 'drop-blocks', late: !!storage[2] };
  const simple = ['crash', 'hang', 'corrupt-map', 'corrupt-reduce', 'lie-digest', 'serve-corrupt', 'equivocate', 'collude'];
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
 * Alters served bytes. serve-corrupt (always) and equivocate (every other read) alter what they
 * send readers, map outputs and dfs blocks alike, but answer a challenge from the bytes they hold,
 * so they pass a writer's check and are caught by what readers fetch. corrupt-blocks alters the
 * dfs blocks it lies about, to readers and challenges alike, and runs its tasks honestly.
 */
export function corruptServed(fault: Fault, readCount: number, chunk: Uint8Array,
  block: { dfs: boolean; lying: boolean; challenge: boolean }): Uint8Array {
  const flip = (fault.kind === 'corrupt-blocks' && block.dfs && block.lying) ||
    (!block.challenge && (fault.kind === 'serve-corrupt' || (fault.kind === 'equivocate' && readCount % 2 === 1)));
  if (!flip || chunk.length === 0) return chunk;
  const copy = Buffer.from(chunk);
  copy[0] = copy[0]! ^ 0xff;
  return copy;
}

/**
 * Whether this node alters some reads of a block it serves (corruptServed). Such a node does not
 * let a client on its host read the block's file itself (dfs/short_circuit.ts): that read would
 * bypass its lie, so declining is a liar's best play, and readers meet the lie where it is told.
 */
export function altersServed(fault: Fault, block: { dfs: boolean; lying: boolean }): boolean {
  return (fault.kind === 'corrupt-blocks' && block.dfs && block.lying) || fault.kind === 'serve-corrupt' || fault.kind === 'equivocate';
}

/** Whether the tracker serves some dfs block's bytes altered, or denies holding one it claims: a reader or puller can catch it. */
export function liesWhenServing(fault: Fault): boolean {
  return isStorageLiar(fault) || fault.kind === 'serve-corrupt' || fault.kind === 'equivocate';
}

/**
 * A storage liar: plain, it fails every writer's check (it never keeps a copy of a put); `:late`,
 * every check but a block's first.
 */
export function isStorageLiar(fault: Fault): boolean {
  return fault.kind === 'corrupt-blocks' || fault.kind === 'drop-blocks';
}

/**
 * Which dfs blocks a storage liar lies about: every one it stores, or (`:late`) those whose first
 * challenge it has answered honestly. A drop-blocks tracker loses a block's bytes when it starts
 * lying about it, while its metadata, so its block report, still claims the block.
 */
export class StorageLies {
  readonly #fault: Fault;
  readonly #store: BlockStore;
  /** `:late` liars: blocks already challenged once. */
  readonly #challenged = new Set<string>();

  constructor(fault: Fault, store: BlockStore) {
    this.#fault = fault;
    this.#store = store;
  }

  /**
   * What this node's answer to a writer's challenge sent along with a dfs block is the MAC of, as
   * it stores the block (answerOnTheWay in tasktracker/block_service.ts): each chunk as it came, as
   * an honest node answers; altered, by a plain corrupt-blocks liar (the bytes it will serve); or
   * undefined, leaving the challenge to ProveBlock, by a drop-blocks liar (which then holds
   * nothing) and by the `:late` ones (which answer their first ProveBlock honestly, then lie).
   */
  onTheWay(): ((chunk: Uint8Array) => Uint8Array) | undefined {
    const fault = this.#fault;
    if (!isStorageLiar(fault)) return (chunk) => chunk;
    if (fault.kind === 'corrupt-blocks' && !fault.late) return (chunk) => corruptServed(fault, 0, chunk, { dfs: true, lying: true, challenge: true });
    return undefined;
  }

  /** Whether the bytes served for dfs block `digest` are altered now. */
  corrupts(digest: string): boolean {
    return this.#fault.kind === 'corrupt-blocks' && (!this.#fault.late || this.#challenged.has(digest));
  }

  /** After a dfs block is stored (and acknowledged). */
  async stored(digest: string): Promise<void> {
    if (this.#fault.kind === 'drop-blocks' && !this.#fault.late) await this.#drop(digest);
  }

  /** After a challenge of dfs block `digest` was answered. */
  async challenged(digest: string): Promise<void> {
    if ((this.#fault.kind !== 'corrupt-blocks' && this.#fault.kind !== 'drop-blocks') || !this.#fault.late) return;
    if (this.#challenged.has(digest)) return;
    this.#challenged.add(digest);
    if (this.#fault.kind === 'drop-blocks') await this.#drop(digest);
  }

  async #drop(digest: string): Promise<void> {
    const file = this.#store.localPath(digest);
    if (file) await fs.rm(file, { force: true });
  }
}
