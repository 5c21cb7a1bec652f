/**
 * Every fault mode on real processes, f=1: the output still equals the coreutils oracle, trackers
 * whose votes were wrong are named, and an honest tracker is never named.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { liesWhenServing, parseFault } from '../tasktracker/faults.ts';
import { bftmr, concatenatedOutput, corpus, grepLinesOracle, grepOracle, normalisedOutput, tempDir, wordCountOracle } from './helpers/cli.ts';

/**
 * Modes whose liar must be proven faulty: by the vote (a wrong digest), or by the job tracker's
 * own audit of a source a reducer accused (serve-corrupt; an equivocator may serve the audit
 * good bytes, so it is only ever named with proof, never required to be).
 */
const PROVABLE = new Set(['corrupt-map', 'corrupt-reduce', 'lie-digest', 'collude', 'serve-corrupt']);
/** A hung tracker keeps listing its attempts as running: past the hard deadline it is named (maybe after the job). */
const DEADLINE_FLOOR_MS = 4_000;
const MODES = ['crash', 'hang', 'slow:1500', 'corrupt-map', 'corrupt-reduce', 'lie-digest', 'serve-corrupt', 'equivocate', 'collude',
  // Storage liars: the job's input blocks sit on them too (`:late`: they pass the writer's check, then lie).
  'corrupt-blocks:late', 'drop-blocks:late'];
const ERE = 'hack(er|ing|s)';

let text = '';
let wcOracle = '';
let grepExpected = '';
let filterExpected = '';
test.before(() => {
  // Four copies of the corpus, in many small splits: enough tasks that every tracker, even one
  // that heartbeats last, takes part in both phases (a liar that ran nothing cannot be named).
  text = path.join(tempDir('bftmr-fm-in-'), 'jargon4.txt');
  const one = fs.readFileSync(corpus());
  fs.writeFileSync(text, Buffer.concat([one, one, one, one]));
  wcOracle = wordCountOracle(text);
  grepExpected = grepOracle(text, ERE).perMatch;
  filterExpected = grepLinesOracle(text, ERE);
});

/** `filter` runs map-only: its output is the maps' own, in input order. */
async function survive(t: any, mode: string, job: 'word_count' | 'grep' | 'filter', f = 1): Promise<void> {
  const home = tempDir('bftmr-fm-');
  // A liar about the blocks it serves is caught by the nodes pulling the input's copies from it
  // (dfs/client.ts), before the job: here it stays in service, so the job runs beside it.
  const keep = liesWhenServing(parseFault(mode)) ? ['--blacklist-after', '1000000'] : [];
  const start = await bftmr(home, 'cluster', 'start', '--trackers', String(2 * f + 1), '--slots', '1', '--faulty', String(f), '--fault', mode,
    '--deadline-floor-ms', String(DEADLINE_FLOOR_MS), ...keep);
  t.is(start.code, 0, start.stderr);
  try {
    const status = JSON.parse((await bftmr(home, 'cluster', 'status', '--json')).stdout);
    const faulty = status.trackers.filter((x: any) => x.fault === mode).map((x: any) => x.id);
    t.is(faulty.length, f);
    const put = await bftmr(home, 'dfs', 'put', text, '/in/jargon.txt', '--block-mb', '0.25');
    t.is(put.code, 0, put.stderr);
    const extra = job === 'word_count' ? [] : ['--conf', `pattern=${ERE}`];
    const r = await bftmr(home, 'job', 'submit', `jobs/${job}.ts`, '--input', '/in', '--output', '/out', '--reduces', job === 'filter' ? '0' : '4',
      '--split-mb', '0.25', '--f', String(f), '--json', ...extra);
    t.is(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout);
    t.is(summary.state, 'SUCCEEDED');
    const named = [...new Set(summary.faulty_trackers.map((v: any) => v.tracker))];
    for (const id of named) t.true(faulty.includes(id), `${id} was named but is honest`);
    if (PROVABLE.has(mode)) t.true(named.length > 0, `a ${mode} tracker must be named`);
    // A liar is named when it took part in a task it lied on; with one faulty tracker it always does.
    if (PROVABLE.has(mode) && f === 1) t.deepEqual(named, faulty, `the ${mode} tracker must be named`);
    const local = path.join(tempDir('bftmr-fm-out-'), 'out');
    t.is((await bftmr(home, 'dfs', 'get', '/out', local)).code, 0);
    if (job === 'filter') t.is(concatenatedOutput(local), filterExpected);
    else t.is(normalisedOutput(local), job === 'grep' ? grepExpected : wcOracle);
    // No honest tracker has a verdict, from the job or from the put before it.
    const trackers = JSON.parse((await bftmr(home, 'cluster', 'trackers', '--json')).stdout).trackers;
    for (const x of trackers) if (!faulty.includes(x.id)) t.deepEqual(x.verdicts, [], `${x.id} is honest`);
    if (mode === 'hang') {
      // Its attempts were killed when the job committed; it goes on listing them as running. Its
      // deadline allows 15 s for each block it reads from another tracker, per faulty replica that
      // may be tried first (lib/source_pace.ts): up to 3 blocks x f.
      let verdicts: Map<string, string[]> = new Map();
      for (let i = 0; i < 4 * (DEADLINE_FLOOR_MS / 1000 + 3 * f * 16 + 10); i++) {
        const st = JSON.parse((await bftmr(home, 'cluster', 'trackers', '--json')).stdout);
        verdicts = new Map(st.trackers.map((x: any) => [x.id, x.verdicts]));
        if (faulty.every((id: string) => verdicts.get(id)!.some((v) => /missed the deadline/.test(v)))) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      for (const id of faulty) t.true(verdicts.get(id)!.some((v) => /missed the deadline of (map|reduce) task/.test(v)), `${id} (hang) named`);
      for (const [id, v] of verdicts) if (!faulty.includes(id)) t.deepEqual(v, [], `${id} is honest`);
    }
  } finally {
    await bftmr(home, 'cluster', 'stop');
  }
}

for (const mode of MODES) {
  test.serial(`word_count survives one ${mode} tracker`, (t) => survive(t, mode, 'word_count'));
}
for (const mode of ['corrupt-map', 'lie-digest', 'hang']) {
  test.serial(`grep survives one ${mode} tracker`, (t) => survive(t, mode, 'grep'));
}
for (const mode of ['crash', 'corrupt-map', 'lie-digest', 'hang', 'corrupt-blocks:late']) {
  test.serial(`a map-only filter survives one ${mode} tracker`, (t) => survive(t, mode, 'filter'));
}

// f=2: five trackers, two of them faulty in the same way (colluders report the same wrong output).
for (const mode of ['corrupt-map', 'collude', 'hang']) {
  test.serial(`word_count with f=2 survives two ${mode} trackers`, (t) => survive(t, mode, 'word_count', 2));
}
