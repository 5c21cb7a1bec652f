/**
 * Write leases (HDFS's LeaseManager): a put holds one while it runs, renewed by its client well
 * within `leaseMs`. The replication monitor asks them whether a copy no file lists may be
 * collected (it may be a block of a put not yet created) and whether a write's blocks may have
 * been; the core asks whether a write may still create its file. Pure: time is passed in.
 */
export class WriteLeases {
  readonly #leaseMs: number;
  /** When the job tracker (this monitor) began: writes begun before are known only once their clients renew. */
  readonly #startMs: number;
  /** Writes in progress: lease id -> when the write began and when its lease was last renewed. */
  readonly #leases = new Map<string, { startMs: number; renewedMs: number }>();
  /**
   * Leases that ended, released or lapsed, and when: a renewal that comes later does not bring
   * one back (a lapsed write's blocks may have been collected meanwhile). Kept for two leases;
   * after that, #lost's rule for unknown leases covers them.
   */
  readonly #ended = new Map<string, number>();

  constructor(leaseMs: number, startMs: number) {
    this.#leaseMs = leaseMs;
    this.#startMs = startMs;
  }

  /**
   * A write began `startMs` (by the client's account) and runs on: its lease is renewed. Returns
   * false, renewing nothing, when the lease was lost (see #lost): the write must fail.
   */
  renew(id: string, startMs: number, now: number): boolean {
    if (this.#lost(id, startMs, now)) {
      this.#end(id, now);
      return false;
    }
    const l = this.#leases.get(id);
    this.#leases.set(id, { startMs: Math.min(startMs, l?.startMs ?? startMs, now), renewedMs: now });
    return true;
  }

  /** The write is over (its file created, or given up). */
  release(id: string, now: number): void {
    this.#end(id, now);
  }

  /** When a write holding a lease began, by its client's account; undefined if no lease is held. */
  startOf(id: string): number | undefined {
    return this.#leases.get(id)?.startMs;
  }

  /**
   * Whether a write began before this monitor did (the job tracker restarted while it ran): the
   * deletes the last one sent are not known here, so its claims are checked, not believed.
   */
  begunBefore(id: string): boolean {
    return (this.#leases.get(id)?.startMs ?? -Infinity) < this.#startMs;
  }

  /**
   * Whether a write may still create its file: its lease is held, or (after a restart) not known
   * yet while nothing can have been collected. A write whose lease lapsed may have lost blocks.
   */
  held(id: string, now: number): boolean {
    return !this.#lost(id, this.#leases.get(id)?.startMs ?? -Infinity, now);
  }

  /**
   * Writes in progress (leases not lapsed) that began at `ms` or before; and until a lease has
   * passed since this job tracker started, one more: a write begun before then may not have
   * renewed its lease here yet (sim seed 112773: a decommissioned tracker stopped right after a
   * restart took the only good copy of a running put's block).
   */
  writesBegunBy(ms: number, now: number): number {
    let n = now < this.#startMs + this.#leaseMs ? 1 : 0;
    for (const l of this.#leases.values()) if (l.renewedMs + this.#leaseMs >= now && l.startMs <= ms) n++;
    return n;
  }

  /**
   * Whether an unlisted copy stored `ageMs` ago may be collected: not a block of a write in
   * progress. Without an age (a tracker that keeps none) it may.
   */
  collectible(ageMs: number | undefined, now: number): boolean {
    if (ageMs === undefined) return true;
    const lease = this.#leaseMs;
    if (ageMs < lease || now < this.#startMs + lease) return false;
    const storedMs = now - ageMs;
    for (const [id, l] of this.#leases) {
      if (l.renewedMs + lease < now) this.#end(id, now); // its client is gone
      else if (l.startMs <= storedMs) return false;
    }
    return true;
  }

  /**
   * A lease is lost when it ended (released, or lapsed), when it lapsed (not renewed for a lease),
   * or when it is unknown though its write began a lease ago or more and this monitor has been
   * collecting for that long: it lapsed and was forgotten, or its client did not renew it for a
   * whole lease after a restart. A new write's first renewal says it began just now.
   */
  #lost(id: string, startMs: number, now: number): boolean {
    const l = this.#leases.get(id);
    if (l) return l.renewedMs + this.#leaseMs < now;
    return this.#ended.has(id) || (startMs + this.#leaseMs <= now && this.#startMs + this.#leaseMs <= now);
  }

  #end(id: string, now: number): void {
    this.#leases.delete(id);
    this.#ended.set(id, now);
    for (const [k, at] of this.#ended) {
      if (at + 2 * this.#leaseMs >= now) break; // in insertion order: the rest are younger
      this.#ended.delete(k);
    }
  }
}
