/**
 * Word count without the words of a stop list: word_count's tokens, except those listed (one
 * per line, lowercase) in a cache file shipped to every task, `--cache-file stopwords.txt` (or
 * the file named by `--conf stopwords=NAME`). The same answer as:
 *   LC_ALL=C tr -cs 'A-Za-z0-9' '\n' | tr A-Z a-z | grep -vxF -f stopwords.txt | sort | uniq -c
 */
import type { Job, MapContext } from 'bftmr';
import wordCount from './word_count.ts';

const TOKEN = /[A-Za-z0-9]+/g;

/** The stop list of the job, read once per task. */
const stopLists = new WeakMap<MapContext, Set<string>>();
function stopList(ctx: MapContext): Set<string> {
  let words = stopLists.get(ctx);
  if (!words) {
    words = new Set(ctx.cacheFile(ctx.conf.stopwords ?? 'stopwords.txt').split('\n').filter(Boolean));
    stopLists.set(ctx, words);
  }
  return words;
}

export default {
  map(line, ctx) {
    const stop = stopList(ctx);
    for (const m of line.matchAll(TOKEN)) {
      const word = m[0].toLowerCase();
      if (!stop.has(word)) ctx.emit(word, '1');
    }
  },
  // Counting is word_count's (the bundle takes in what a job imports).
  combine: wordCount.combine,
  reduce: wordCount.reduce,
} satisfies Job;
