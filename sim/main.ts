/**
 * The simulator's command line:
 *
 *   node --import tsx sim/main.ts --seeds N [--from S] [--exclude MODE,...]   N seeds (random, or S, S+1, ...)
 *   node --import tsx sim/main.ts --seed S [--verbose] [--exclude MODE,...]   one seed, with its trace
 *
 * One line per failing seed (the seed, the property, how to replay it), then a summary line.
 * Exits 1 if any seed failed. Only this entry point may use real entropy: to pick random seeds.
 */
import { randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { FEATURES, isFeature, type Feature } from './scenario.ts';
import { failureLine, runSeed, type SimResult } from './simulator.ts';

interface Args {
  seeds: number;
  seed?: number;
  from?: number;
  verbose: boolean;
  exclude: Feature[];
  maxSimMs?: number;
}

const USAGE = `usage: node --import tsx sim/main.ts (--seeds N [--from S] | --seed S) [--verbose] [--exclude MODE,...] [--max-sim-ms MS]
  --exclude takes any of: ${FEATURES.join(', ')}`;

function parse(argv: string[]): Args {
  const args: Args = { seeds: 0, verbose: false, exclude: [] };
  const num = (flag: string, v: string | undefined) => {
    const n = Number(v);
    if (v === undefined || !Number.isSafeInteger(n) || n < 0) usage(`${flag} needs a whole number, not ${v ?? 'nothing'}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--seeds') args.seeds = num(a, argv[++i]);
    else if (a === '--seed') args.seed = num(a, argv[++i]);
    else if (a === '--from') args.from = num(a, argv[++i]);
    else if (a === '--max-sim-ms') args.maxSimMs = num(a, argv[++i]);
    else if (a === '--verbose' || a === '-v') args.verbose = true;
    else if (a === '--exclude') {
      for (const m of (argv[++i] ?? '').split(',').filter(Boolean)) {
        if (!isFeature(m)) usage(`unknown mode '${m}'`);
        args.exclude.push(m);
      }
    } else if (a === '--help' || a === '-h') usage();
    else usage(`unknown argument '${a}'`);
  }
  if (args.seed === undefined && args.seeds === 0) usage('give --seeds N or --seed S');
  return args;
}

function usage(problem?: string): never {
  if (problem) console.error(problem);
  console.error(USAGE);
  process.exit(2);
}

const args = parse(process.argv.slice(2));
const seeds = args.seed !== undefined
  ? [args.seed]
  : Array.from({ length: args.seeds }, (_, i) => (args.from !== undefined ? args.from + i : randomInt(0, 2 ** 32)));

const started = performance.now();
let failed = 0;
let safety = 0;
let waived = 0;
let events = 0;
for (const seed of seeds) {
  const result: SimResult = runSeed({
    seed,
    exclude: args.exclude,
    maxSimMs: args.maxSimMs,
    trace: args.verbose ? (line) => console.log(line) : undefined,
  });
  events += result.events;
  if (result.livenessWaived) waived++;
  if (args.verbose) {
    for (const j of result.jobs) console.log(`job ${j.id}: ${j.state} in ${j.elapsedMs}ms${j.error ? ` (${j.error})` : ''}`);
    for (const r of result.refused) console.log(`refused: ${r}`);
    if (result.livenessWaived) console.log(`liveness not judged: ${result.livenessWaived}`);
    console.log(`trace ${result.traceHash}`);
  }
  if (result.violations.length) {
    failed++;
    if (result.violations[0]!.kind === 'safety') safety++;
    console.log(failureLine(result, args.exclude));
  }
}
const ms = Math.round(performance.now() - started);
console.log(`sim: ${seeds.length} seeds, ${failed} failed (${safety} safety, ${failed - safety} liveness), ` +
  `${waived} with liveness not judged (more than f faulty), ${events} events, ${ms} ms` +
  (args.exclude.length ? `, excluding ${args.exclude.join(',')}` : ''));
process.exit(failed ? 1 : 0);
