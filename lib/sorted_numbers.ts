/** Numbers kept in ascending order, so the median of a set that changes a little at a time is a lookup. */
export class SortedNumbers {
  readonly #xs: number[] = [];

  get size(): number {
    return this.#xs.length;
  }

  add(x: number): void {
    this.#xs.splice(this.#lowerBound(x), 0, x);
  }

  /** Removes one occurrence of `x`, if there is one. */
  remove(x: number): void {
    const i = this.#lowerBound(x);
    if (this.#xs[i] === x) this.#xs.splice(i, 1);
  }

  /** The median (the upper one of an even count); undefined when empty. */
  median(): number | undefined {
    return this.#xs[Math.floor(this.#xs.length / 2)];
  }

  /** The first index whose number is not below `x`. */
  #lowerBound(x: number): number {
    let lo = 0;
    let hi = this.#xs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#xs[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
