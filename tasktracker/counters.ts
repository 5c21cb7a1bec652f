/** Named integer counters of one attempt (records in/out, bytes, user counters). */
export class Counters {
  readonly #values = new Map<string, number>();

  add(name: string, by = 1): void {
    if (!Number.isFinite(by)) throw new TypeError(`counter ${name}: ${by} is not a number`);
    this.#values.set(name, (this.#values.get(name) ?? 0) + by);
  }

  toObject(): Record<string, number> {
    return Object.fromEntries([...this.#values].sort(([a], [b]) => (a < b ? -1 : 1)));
  }
}
