/** The simulator's clock: events ordered by (time, insertion). */
import { MinHeap } from '../lib/min_heap.ts';

export interface Event {
  at: number;
  seq: number;
  run: () => void;
}

/** Events ordered by (time, insertion): equal times run in the order they were scheduled. */
export class EventQueue {
  readonly #heap = new MinHeap<Event>((a, b) => a.at < b.at || (a.at === b.at && a.seq < b.seq));
  #seq = 0;

  get size(): number {
    return this.#heap.size;
  }

  push(at: number, run: () => void): void {
    this.#heap.push({ at, seq: this.#seq++, run });
  }

  pop(): Event | undefined {
    return this.#heap.pop();
  }
}
