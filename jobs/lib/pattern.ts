/**
 * The regular expression of `--conf pattern=REGEX` (and `--conf flags=...`, JavaScript's flags
 * but g and y: `u` for whole Unicode characters), compiled once per task. It is JavaScript's
 * syntax, not POSIX's: for the patterns both read alike, the lines are grep -E's. Shared by jobs/grep.ts and jobs/filter.ts: a job module
 * may import others; the bundle at submit carries them.
 */
type Conf = Readonly<Record<string, string>>;

let cached: { source: string; flags: string; re: RegExp } | undefined;

export function pattern(conf: Conf, job: string): RegExp {
  const source = conf.pattern;
  if (source === undefined) throw new Error(`${job} needs --conf pattern=REGEX`);
  const flags = (conf.flags ?? '').replace(/[gy]/g, '');
  if (!cached || cached.source !== source || cached.flags !== flags) {
    // A POSIX class ([[:digit:]]) is no class to JavaScript, which reads it as a set of
    // characters followed by a ']': it would quietly match other lines than grep -E's.
    const posix = /\[:(alnum|alpha|blank|cntrl|digit|graph|lower|print|punct|space|upper|xdigit):\]/.exec(source);
    if (posix) throw new Error(`${job}: --conf pattern is a JavaScript regular expression, which has no POSIX class such as ${posix[0]}: write \\d, \\s, [A-Za-z] and the like`);
    cached = { source, flags, re: new RegExp(source, flags) };
  }
  return cached.re;
}
