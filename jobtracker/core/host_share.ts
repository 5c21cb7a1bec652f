/**
 * Trackers on one host share its cores. A local cluster runs several trackers on one machine, each
 * with slots of its own; left alone they would run more attempts than the host has cores, and on a
 * machine with 2 cores four map attempts side by side took 26% more CPU each than two (caches and
 * the collectors' threads fight). So the job tracker starts no more attempts on a host than it has
 * cores, and no more on one of its trackers than that tracker's fair share of them: a tracker that
 * holds its attempts and never reports them (hung, or lying) cannot take the host from the others.
 * Those it holds count until the job tracker stops waiting for them (they missed their deadline,
 * or their task no longer needs them). The hosts' budgets stretch to f x share + 1, so the f
 * trackers a job may have faulty still leave honest ones room. A host with one tracker (every
 * multi-host cluster) keeps that tracker's own slots.
 */

/** What the job tracker knows of a tracker for this. */
export interface SharedTracker {
  id: string;
  host: string;
  /** The cores of its host, as it said (0: it did not say). */
  cores: number;
  /** Free slots, as it last reported them, less the attempts sent to it since. */
  free: number;
  /** Attempts on it the job tracker still waits for. */
  busy: number;
}

export interface HostShares {
  /** How many more attempts each tracker may start, by its free slots and its share of its host. */
  free: Map<string, number>;
  /** The host of each tracker on a shared host. */
  hostOf: Map<string, string>;
  /** How many more attempts each shared host may start in all. */
  room: Map<string, number>;
}

/** The budgets, for trackers that are all usable; `f`: the largest f of the running jobs. */
export function hostShares(trackers: Iterable<SharedTracker>, f: number): HostShares {
  const byHost = new Map<string, SharedTracker[]>();
  for (const t of trackers) {
    const list = byHost.get(t.host);
    if (list) list.push(t);
    else byHost.set(t.host, [t]);
  }
  const shares: HostShares = { free: new Map(), hostOf: new Map(), room: new Map() };
  for (const [host, list] of byHost) {
    const said = list.map((t) => t.cores).filter((c) => c > 0);
    if (list.length < 2 || said.length === 0) {
      for (const t of list) shares.free.set(t.id, Math.max(0, t.free));
      continue;
    }
    // The least any of them said: a tracker cannot raise its neighbours' budget.
    const cores = Math.min(...said);
    const share = Math.ceil(cores / list.length);
    const budget = Math.max(cores, f * share + 1);
    let busy = 0;
    for (const t of list) {
      busy += t.busy;
      shares.free.set(t.id, Math.max(0, Math.min(t.free, share - t.busy)));
      shares.hostOf.set(t.id, host);
    }
    shares.room.set(host, Math.max(0, budget - busy));
  }
  return shares;
}

/**
 * A plan's view of the budgets: what each tracker may still start, as attempts are planned on them
 * one by one. Trackers that are not in `free` take nothing.
 */
export class SlotPlan {
  readonly #free: Map<string, number>;
  readonly #hostOf: Map<string, string>;
  readonly #room: Map<string, number>;

  constructor(shares: Pick<HostShares, 'free'> & Partial<HostShares>) {
    this.#free = new Map(shares.free);
    this.#hostOf = shares.hostOf ?? new Map();
    this.#room = new Map(shares.room ?? []);
  }

  /** The trackers in the plan. */
  ids(): string[] {
    return [...this.#free.keys()];
  }

  /** How many more `id` may start. */
  left(id: string): number {
    const own = this.#free.get(id) ?? 0;
    const host = this.#hostOf.get(id);
    return host === undefined ? own : Math.min(own, this.#room.get(host) ?? 0);
  }

  set(id: string, n: number): void {
    this.#free.set(id, n);
  }

  delete(id: string): void {
    this.#free.delete(id);
  }

  /** One more attempt planned on `id`. */
  take(id: string): void {
    this.#free.set(id, (this.#free.get(id) ?? 0) - 1);
    const host = this.#hostOf.get(id);
    if (host !== undefined) this.#room.set(host, (this.#room.get(host) ?? 0) - 1);
  }

  /**
   * The first `need` of `ids` (in their order) that can each start one more attempt beside the
   * others picked, fewer when they run out.
   */
  pick(ids: string[], need: number): string[] {
    const picked: string[] = [];
    const used = new Map<string, number>();
    for (const id of ids) {
      if (picked.length >= need) break;
      if (this.left(id) <= 0) continue;
      const host = this.#hostOf.get(id);
      if (host !== undefined && (used.get(host) ?? 0) >= (this.#room.get(host) ?? 0)) continue;
      picked.push(id);
      if (host !== undefined) used.set(host, (used.get(host) ?? 0) + 1);
    }
    return picked;
  }

  /** How many of the trackers `ok` lets in could each start one attempt at once. */
  spread(ok: (id: string) => boolean): number {
    return this.pick(this.ids().filter(ok), Infinity).length;
  }
}
