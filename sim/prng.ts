/**
 * The simulator's only source of randomness: a seeded PRNG, forked per concern so that one more
 * draw for one thing (a network delay) does not change what another (the faults) picks.
 */

/** mulberry32: small, fast, and good enough to pick faults and delays. */
export class Prng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x100000000;
  }

  /** A whole number in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new Error('pick from an empty list');
    return xs[Math.floor(this.next() * xs.length)]!;
  }

  /**
   * An independent stream, so that drawing one more delay does not shift which faults a seed
   * picks (and a scenario stays the same while the network model changes).
   */
  fork(): Prng {
    return new Prng((Math.floor(this.next() * 0x100000000) ^ 0x9e3779b9) >>> 0);
  }
}
