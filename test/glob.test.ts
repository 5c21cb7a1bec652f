import test from 'ava';
import { compileGlob, globMatches, hasGlob, unescapeGlob } from '../dfs/glob.ts';

const files = ['/in/a.txt', '/in/b.txt', '/in/ab.log', '/in/sub/c.txt', '/in/sub/deep/d.txt', '/out/wc/part-r-00000', '/out/wc/part-r-00001', '/out/wc/_SUCCESS', '/x*y/lit',
  '/.bftmr/jobs/0a.mjs', '/in/.hidden'];
const expand = (pattern: string) => globMatches(compileGlob(pattern), files.filter((f) => f.startsWith(compileGlob(pattern).base)));

test('glob characters, and the ones a backslash escapes', (t) => {
  t.false(hasGlob('/in/a.txt'));
  for (const p of ['/in/*', '/in/?', '/in/[ab]', '/in/{a,b}']) t.true(hasGlob(p), p);
  t.false(hasGlob('/x\\*y/lit'));
  // A pattern's fixed part takes its escapes literally.
  t.is(unescapeGlob('/x\\*y/lit'), '/x*y/lit');
  t.is(unescapeGlob('/a\\\\b'), '/a\\b');
  // Before any other character a backslash is itself: /o/a\b names the same file as a path and in a pattern.
  t.false(hasGlob('/o/a\\b'));
  t.is(unescapeGlob('/o/a\\b'), '/o/a\\b');
  t.deepEqual(globMatches(compileGlob('/o/a\\b*'), ['/o/a\\bc', '/o/abc']), ['/o/a\\bc']);
  t.deepEqual(globMatches(compileGlob('/o/a\\'), ['/o/a\\', '/o/a']), ['/o/a\\']);
});

test('* and ? stay within one path component, and match directories as well as files', (t) => {
  t.deepEqual(expand('/in/*'), ['/in/a.txt', '/in/ab.log', '/in/b.txt', '/in/sub']);
  t.deepEqual(expand('/in/*.txt'), ['/in/a.txt', '/in/b.txt']);
  t.deepEqual(expand('/in/?.txt'), ['/in/a.txt', '/in/b.txt']);
  t.deepEqual(expand('/in/*/*.txt'), ['/in/sub/c.txt']);
  t.deepEqual(expand('/*/sub'), ['/in/sub']);
  t.deepEqual(expand('/out/wc/part-*'), ['/out/wc/part-r-00000', '/out/wc/part-r-00001']);
});

test('classes, negated classes, ranges and alternatives', (t) => {
  t.deepEqual(expand('/in/[a].txt'), ['/in/a.txt']);
  t.deepEqual(expand('/in/[^a]*'), ['/in/b.txt', '/in/sub']);
  t.deepEqual(expand('/in/[!a]*'), ['/in/b.txt', '/in/sub']);
  t.deepEqual(expand('/out/wc/part-r-0000[0-0]'), ['/out/wc/part-r-00000']);
  t.deepEqual(expand('/in/{a.txt,sub}'), ['/in/a.txt', '/in/sub']);
  t.deepEqual(expand('/in/{a,b}*.{txt,log}'), ['/in/a.txt', '/in/ab.log', '/in/b.txt']);
  // A negated class never matches the / between components.
  t.deepEqual(globMatches(compileGlob('/in[^x]sub'), ['/in/sub/c.txt']), []);
});

test('the base is the part before the first glob, unescaped; escaped characters are literal', (t) => {
  t.is(compileGlob('/out/wc/part-*').base, '/out/wc');
  t.is(compileGlob('/*').base, '/');
  t.is(compileGlob('/x\\*y/l?t').base, '/x*y');
  t.deepEqual(expand('/x\\*y/l?t'), ['/x*y/lit']);
  t.deepEqual(globMatches(compileGlob('/in/\\*'), ['/in/a.txt']), []);
});

test('a malformed pattern is refused with one line naming it', (t) => {
  for (const [p, why] of [['/in/[ab', /\[ without \]/], ['/in/{a,b', /\{ without \}/], ['/in/../*', /may not contain '\.\.'/],
    ['/in/[z-a]', /^pattern "\/in\/\[z-a\]" is not a valid glob: range out of order in character class$/]] as const) {
    const e = t.throws(() => compileGlob(p));
    t.regex(e!.message, why, p);
  }
});

test('as in a shell, a name that starts with . is matched only by a component that starts with . (bftmr\'s own /.bftmr is not in /*)', (t) => {
  t.deepEqual(expand('/*'), ['/in', '/out', '/x*y']);
  t.deepEqual(expand('/in/*'), ['/in/a.txt', '/in/ab.log', '/in/b.txt', '/in/sub']);
  t.deepEqual(expand('/in/?hidden'), []);
  t.deepEqual(expand('/in/[.]hidden'), []);
  t.deepEqual(expand('/in/.h*'), ['/in/.hidden']);
  t.deepEqual(expand('/.*/jobs/*'), ['/.bftmr/jobs/0a.mjs']);
  t.deepEqual(expand('/{.bftmr,in}/*.txt'), ['/in/a.txt', '/in/b.txt']);
  t.deepEqual(expand('/{.bftmr,x}/jobs'), ['/.bftmr/jobs']);
});
