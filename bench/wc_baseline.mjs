// The contender: a single-threaded plain Node script counting the same tokens as jobs/word_count.ts
// (maximal runs of [A-Za-z0-9], ASCII-lowercased), streaming the file. Prints "<distinct> <total>".
import fs from 'node:fs';

const file = process.argv[2];
const counts = new Map();
const TOKEN = /[A-Za-z0-9]+/g;
let rest = '';
let total = 0;
function line(l) {
  for (const m of l.matchAll(TOKEN)) {
    const w = m[0].toLowerCase();
    counts.set(w, (counts.get(w) ?? 0) + 1);
    total++;
  }
}
for await (const chunk of fs.createReadStream(file, { encoding: 'utf8', highWaterMark: 4 << 20 })) {
  const lines = (rest + chunk).split('\n');
  rest = lines.pop();
  for (const l of lines) line(l);
}
line(rest);
const out = fs.createWriteStream(process.argv[3] ?? '/dev/null');
for (const k of [...counts.keys()].sort()) out.write(`${k}\t${counts.get(k)}\n`);
out.end();
console.log(`${counts.size} ${total}`);
