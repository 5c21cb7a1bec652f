/**
 * The `bftmr` command. Entry point: the only place (with the daemons) that reads argv and the
 * environment. Errors become one line on stderr and a non-zero exit; BFTMR_DEBUG=1 shows more.
 */
import fs from 'node:fs';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { BUILD_ID } from '../lib/build.ts';
import { BftmrError, ioReason, messageOf } from '../lib/errors.ts';
import { registerCluster } from './cluster_commands.ts';
import { registerDaemons } from './daemons.ts';
import { registerDfs } from './dfs_commands.ts';
import { registerJob } from './job_commands.ts';
import { escapeControls } from './progress.ts';

// `bftmr dfs cat F | head`: the reader went away; stop quietly, as cat does. Any other error
// (`> /dev/full`, a disk that fills) is one line and exit status 1, as cat says it, not a stack.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  process.stderr.write(`bftmr: cannot write standard output: ${ioReason(e)}${process.env.BFTMR_DEBUG ? `\n${e.stack}` : ''}\n`);
  process.exit(1);
});

/** `--home ''` (an unset shell variable) would make the current directory the cluster's home. */
function nonEmptyHome(value: string): string {
  if (value === '') throw new InvalidArgumentError('It is empty: name the state directory of the cluster.');
  return value;
}

const program = new Command('bftmr')
  .description('Byzantine-fault-tolerant MapReduce: every task runs on f+1 task trackers and their outputs are voted')
  .version(`bftmr ${JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version} (build ${BUILD_ID}, node ${process.versions.node})`,
    '-V, --version', 'print the version and the build (daemons of one cluster must share a build)')
  .option('--home <dir>', 'state directory of the cluster (default: $BFTMR_HOME or ~/.bftmr)', nonEmptyHome)
  .showHelpAfterError('(add --help for usage)')
  .exitOverride();

registerJob(program);
registerCluster(program);
registerDfs(program);
registerDaemons(program);

/** Resolves once what was written to `stream` before is handed to the system. */
const flushed = (stream: NodeJS.WriteStream) => new Promise<void>((resolve) => stream.write('', () => resolve()));

try {
  await program.parseAsync(process.argv);
  // The command is done (a daemon's ends when it is stopped): what it leaves open, such as a
  // connection to a node that froze in the middle of its handshake, must not keep it from exiting.
  await flushed(process.stdout);
  await flushed(process.stderr);
  process.exit();
} catch (e) {
  if (e instanceof CommanderError) {
    process.exitCode = e.exitCode === 0 ? 0 : 2;
  } else {
    const code = e instanceof BftmrError ? e.code : 'INTERNAL';
    // A local file system error that no command put in words: its path and reason, not its errno text.
    const sys = e as NodeJS.ErrnoException;
    const reason = sys?.syscall === 'mkdir' && sys.code === 'EEXIST' ? 'it is a file, not a directory' : ioReason(e);
    const text = !(e instanceof BftmrError) && sys?.code && sys.path ? `${sys.path}: ${reason}` : messageOf(e);
    process.stderr.write(`bftmr: ${escapeControls(text)}${process.env.BFTMR_DEBUG ? ` [${code}]\n${(e as Error).stack}` : ''}\n`);
    // Exit now: a daemon that failed to start may still hold a listening socket or a thread pool.
    process.exit(code === 'INTERRUPTED' ? 130 : 1);
  }
}
