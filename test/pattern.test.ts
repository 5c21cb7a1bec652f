/** The pattern of jobs/grep.ts and jobs/filter.ts: JavaScript's syntax, and a clear error for POSIX's classes. */
import test from 'ava';
import { pattern } from '../jobs/lib/pattern.ts';

test('a POSIX class in --conf pattern is refused with a message (JavaScript would read [[:digit:]] as a set of characters and a ])', (t) => {
  const e = t.throws(() => pattern({ pattern: 'year [[:digit:]]{4}' }, 'filter'));
  t.is(e!.message, 'filter: --conf pattern is a JavaScript regular expression, which has no POSIX class such as [:digit:]: write \\d, \\s, [A-Za-z] and the like');
  t.true(pattern({ pattern: 'year \\d{4}' }, 'filter').test('the year 1989'));
  t.true(pattern({ pattern: '[:x]' }, 'grep').test('a:b'), 'a set that merely has a colon is no POSIX class');
  t.true(pattern({ pattern: '^.$', flags: 'u' }, 'grep').test('𝄞'), 'flags=u: whole Unicode characters');
});
