/**
 * How the job tracker checks that a tracker holds the true bytes of a block it claims, without
 * keeping any block bytes itself.
 *
 * The plain check fetches the block from the tracker and compares its SHA-256 with the digest the
 * namespace keeps: proof either way, at the cost of one block transfer. While it streams those
 * bytes (already proven right by the digest, once the stream ends), it also computes the
 * proof MAC (lib/proof.ts) of the block under a few fresh random nonces nobody has seen, and keeps
 * only these (nonce, MAC) pairs. A later audit of any tracker holding that block spends one pair: it sends
 * the nonce and compares the MAC the tracker computes over its copy. The tracker cannot answer
 * from a cached digest (the nonce is new), nor from anything the job tracker ever sent it, so a
 * right answer shows it could read the true bytes when asked; a wrong one is proof, since the
 * reference was computed over verified bytes. Each nonce is used once. (A tracker could relay the
 * nonce to an accomplice holding the bytes: the check proves possession by the pair, not where
 * the bytes sit; HDFS's checks prove no more.)
 *
 * Why not ask two replicas for the same MAC and compare? Agreement proves nothing when both
 * collude, and a disagreement does not say which one lies. The trusted side must have seen the
 * true bytes once.
 */
import { timingSafeEqual } from 'node:crypto';
import { isBftmrError, messageOf } from '../lib/errors.ts';
import { newHasher } from '../lib/digest.ts';
import { newNonce, newProofMac } from '../lib/proof.ts';
import type { ProveBlockReply, ProveBlockRequest } from '../lib/messages.ts';
import { kClusterDefaults } from '../lib/options.ts';
import { streamBlock } from '../dfs/block_transfer.ts';
import type { Peers } from '../dfs/peers.ts';

/** `match`: the true bytes; `mismatch`: other bytes (proof); `missing`: the tracker says it does not hold it; `no-answer`: no proof either way. */
export type AuditOutcome = { kind: 'match' | 'mismatch' | 'missing' } | { kind: 'no-answer'; why: string };

export interface BlockAuditOptions {
  /** Challenges minted per full check of a block. */
  tokensPerFetch: number;
  /** Blocks with unspent challenges kept at most (the oldest go first). */
  maxBlocks: number;
  /** Checks run at once; more wait their turn (a reader may report many blocks at once). */
  maxConcurrent: number;
}

export const kBlockAuditDefaults: BlockAuditOptions = { tokensPerFetch: 4, maxBlocks: 10_000, maxConcurrent: 4 };

interface Token { nonce: Buffer; mac: Buffer }

export class BlockAuditor {
  readonly #peers: Peers;
  readonly #opts: BlockAuditOptions;
  /** digest -> unspent challenges, in insertion order (oldest block first). */
  readonly #tokens = new Map<string, Token[]>();
  #running = 0;
  readonly #waiting: (() => void)[] = [];
  readonly #urgent: (() => void)[] = [];

  constructor(peers: Peers, opts: BlockAuditOptions = kBlockAuditDefaults) {
    this.#peers = peers;
    this.#opts = opts;
  }

  /** Unspent challenges for `digest` (tests and logs). */
  tokens(digest: string): number {
    return this.#tokens.get(digest)?.length ?? 0;
  }

  /**
   * Checks that the tracker at `address` holds the bytes of `digest`: by fetching the block, which
   * mints challenges when `mint`; or, when `challenge` and one is left, by a challenge. A challenge
   * shows the tracker holds the bytes, not that it serves them: a copy a reader accused is fetched,
   * as the reader fetched it. An `urgent` check (one a job's commit waits for) goes ahead of the
   * others waiting for their turn.
   */
  async check(address: string, digest: string, how: { mint?: boolean; challenge?: boolean; urgent?: boolean } = {}): Promise<AuditOutcome> {
    const { mint = false, challenge = false, urgent = false } = how;
    if (this.#running >= this.#opts.maxConcurrent) {
      await new Promise<void>((r) => (urgent ? this.#urgent : this.#waiting).push(r));
    }
    this.#running++;
    try {
      const token = challenge ? this.#spend(digest) : undefined;
      return await (token ? this.#challenge(address, digest, token) : this.#fetch(address, digest, mint));
    } finally {
      this.#running--;
      (this.#urgent.shift() ?? this.#waiting.shift())?.();
    }
  }

  async #fetch(address: string, digest: string, mint: boolean): Promise<AuditOutcome> {
    const hash = newHasher();
    const minted = mint ? Array.from({ length: this.#opts.tokensPerFetch }, () => {
      const nonce = newNonce();
      return { nonce, mac: newProofMac(nonce) };
    }) : [];
    try {
      for await (const chunk of streamBlock(this.#peers, address, digest)) {
        hash.update(chunk);
        for (const m of minted) m.mac.update(chunk);
      }
    } catch (e) {
      // Unreachable, or a chunk that failed its checksum: no proof either way. "Not held" is its own word.
      return isBftmrError(e, 'DFS_NOT_FOUND') ? { kind: 'missing' } : { kind: 'no-answer', why: messageOf(e) };
    }
    if (hash.digest('hex') !== digest) return { kind: 'mismatch' };
    if (minted.length) this.#keep(digest, minted.map((m) => ({ nonce: m.nonce, mac: m.mac.digest() })));
    return { kind: 'match' };
  }

  async #challenge(address: string, digest: string, token: Token): Promise<AuditOutcome> {
    let reply: ProveBlockReply;
    try {
      reply = await this.#peers.get(address).call<ProveBlockRequest, ProveBlockReply>(
        'ProveBlock', { digest, nonce: token.nonce }, kClusterDefaults.rpcDeadlineMs);
    } catch (e) {
      return isBftmrError(e, 'DFS_NOT_FOUND') ? { kind: 'missing' } : { kind: 'no-answer', why: messageOf(e) };
    }
    const got = Buffer.from(reply.mac);
    return got.length === token.mac.length && timingSafeEqual(got, token.mac) ? { kind: 'match' } : { kind: 'mismatch' };
  }

  #spend(digest: string): Token | undefined {
    const list = this.#tokens.get(digest);
    const token = list?.pop();
    if (list && list.length === 0) this.#tokens.delete(digest);
    return token;
  }

  #keep(digest: string, tokens: Token[]): void {
    this.#tokens.delete(digest);
    this.#tokens.set(digest, tokens);
    while (this.#tokens.size > this.#opts.maxBlocks) this.#tokens.delete(this.#tokens.keys().next().value!);
  }

  /** Forgets the challenges of a block no file refers to any more. */
  forget(digest: string): void {
    this.#tokens.delete(digest);
  }
}
