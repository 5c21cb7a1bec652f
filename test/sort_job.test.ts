/** The total-order partitioner of jobs/sort.ts: monotone in the keys' byte order, with or without split keys. */
import test from 'ava';
import sort from '../jobs/sort.ts';

/** Random keys over ASCII, Latin, CJK and astral code points, a few empty, sorted by their UTF-8 bytes. */
function keys(n: number): string[] {
  let x = 12345;
  const next = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const points = [() => 0x20 + Math.floor(next() * 0x5f), () => 0xa0 + Math.floor(next() * 0x200), () => 0x4e00 + Math.floor(next() * 0x100),
    () => 0x1f300 + Math.floor(next() * 0x100), () => Math.floor(next() * 0x20)];
  const out = Array.from({ length: n }, () => String.fromCodePoint(...Array.from({ length: Math.floor(next() * 4) }, () => points[Math.floor(next() * points.length)]!())));
  return out.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

test('partitions never go down as keys go up in byte order, and every partition is in range', (t) => {
  const sorted = keys(20_000);
  for (const [conf, n] of [[{}, 1], [{}, 4], [{}, 7], [{ splits: 'g,p' }, 3], [{ splits: '["a,b","\u00e9","\u4e00z"]' }, 4]] as const) {
    let last = 0;
    const seen = new Set<number>();
    for (const k of sorted) {
      const p = sort.partition!(k, n, conf);
      t.true(Number.isInteger(p) && p >= 0 && p < n);
      if (p < last) t.fail(`${JSON.stringify(conf)}: ${JSON.stringify(k)} went back to ${p} from ${last}`);
      last = p;
      seen.add(p);
    }
    t.is(seen.size, n, `${JSON.stringify(conf)}: every partition gets keys`);
  }
});

test('split keys must be one fewer than the reduces and increasing', (t) => {
  t.throws(() => sort.partition!('x', 4, { splits: 'g,p' }), { message: /has 2 keys; 4 reduces need 3/ });
  t.throws(() => sort.partition!('x', 3, { splits: 'p,g' }), { message: /increasing byte order/ });
});
