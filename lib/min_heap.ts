/**
 * A binary min-heap under a caller's order (`less`). The reduce merge uses it for its inputs'
 * heads (replaceTop: one sift instead of pop + push), the simulator for its events.
 */
export class MinHeap<T> {
  readonly #items: T[] = [];

  constructor(private readonly less: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.#items.length;
  }

  peek(): T | undefined {
    return this.#items[0];
  }

  push(item: T): void {
    const a = this.#items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }

  pop(): T | undefined {
    const top = this.#items[0];
    this.replaceTop(undefined);
    return top;
  }

  /** Replaces the smallest item with `item` (or removes it when undefined) and restores the order. */
  replaceTop(item: T | undefined): void {
    const a = this.#items;
    if (a.length === 0) return;
    if (item !== undefined) a[0] = item;
    else {
      const last = a.pop()!;
      if (a.length === 0) return;
      a[0] = last;
    }
    let i = 0;
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < a.length && this.less(a[l]!, a[m]!)) m = l;
      if (r < a.length && this.less(a[r]!, a[m]!)) m = r;
      if (m === i) break;
      [a[i], a[m]] = [a[m]!, a[i]!];
      i = m;
    }
  }
}
