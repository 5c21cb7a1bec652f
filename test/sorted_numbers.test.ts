import test from 'ava';
import { SortedNumbers } from '../lib/sorted_numbers.ts';

test('the median of sorted numbers is the sorted median, through adds and removes (duplicates too)', (t) => {
  let x = 12345;
  const rnd = (n: number) => { x = (x * 1103515245 + 12345) >>> 0; return x % n; };
  const s = new SortedNumbers();
  const naive: number[] = [];
  t.is(s.median(), undefined);
  for (let i = 0; i < 3000; i++) {
    if (naive.length > 0 && rnd(3) === 0) {
      const v = rnd(2) ? naive[rnd(naive.length)]! : rnd(50) + 0.5; // present, or (usually) absent
      s.remove(v);
      const at = naive.indexOf(v);
      if (at >= 0) naive.splice(at, 1);
    } else {
      const v = rnd(50); // many duplicates
      s.add(v);
      naive.push(v);
    }
    const sorted = [...naive].sort((a, b) => a - b);
    t.is(s.size, naive.length);
    if (s.median() !== sorted[Math.floor(sorted.length / 2)]) t.fail(`step ${i}: median ${s.median()}, expected ${sorted[Math.floor(sorted.length / 2)]}`);
  }
});
