/**
 * The regular expression of `--conf pattern=REGEX` (and `--conf flags=...`, JavaScript's flags
 * but g and y), compiled once per task. Shared by jobs/grep.ts and jobs/filter.ts: a job module
 * may import others; the bundle at submit carries them.
 */
type Conf = Readonly<Record<string, string>>;

let cached: { source: string; flags: string; re: RegExp } | undefined;

export function pattern(conf: Conf, job: string): RegExp {
  const source = conf.pattern;
  if (source === undefined) throw new Error(`${job} needs --conf pattern=REGEX`);
  const flags = (conf.flags ?? '').replace(/[gy]/g, '');
  if (!cached || cached.source !== source || cached.flags !== flags) cached = { source, flags, re: new RegExp(source, flags) };
  return cached.re;
}
