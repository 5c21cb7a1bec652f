/** Option parsers for commander: a bad value is one clear sentence, not a stack trace. */
import { InvalidArgumentError } from 'commander';
import { BftmrError } from '../lib/errors.ts';
import { parseFault } from '../tasktracker/faults.ts';

export function wholeNumber(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError(`'${value}' is not a whole number.`);
    const n = Number(value);
    if (n < min || n > max) throw new InvalidArgumentError(`${n} is out of range (${min}..${max}).`);
    return n;
  };
}

export function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`'${value}' is not a positive number.`);
  return n;
}

export function percentage(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 100) throw new InvalidArgumentError(`'${value}' is not a percentage (0..100).`);
  return n;
}

/** `--faulty K --fault MODE` (cluster start, run): both or neither, a known mode, K at most the trackers. */
export function checkFaultOptions(o: { faulty: number; fault?: string; trackers: number }): void {
  if (o.faulty > 0 && !o.fault) throw new BftmrError('JOB_BAD_ARGUMENT', '--faulty needs --fault MODE');
  if (o.fault && o.faulty === 0) throw new BftmrError('JOB_BAD_ARGUMENT', '--fault needs --faulty K: how many trackers get it');
  if (o.fault) parseFault(o.fault);
  if (o.faulty > o.trackers) throw new BftmrError('JOB_BAD_ARGUMENT', `--faulty ${o.faulty} is more than --trackers ${o.trackers}`);
}

/** `host:port`, the port 0 (any free one) to 65535. */
export function hostPort(value: string): string {
  const m = /^(.+):(\d+)$/.exec(value);
  if (!m || Number(m[2]) > 65535) throw new InvalidArgumentError(`'${value}' is not host:port (a port from 0 to 65535).`);
  return value;
}

export function collectConf(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError(`'${value}' is not key=value.`);
  return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
