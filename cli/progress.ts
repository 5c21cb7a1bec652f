/** Progress on a terminal: one line, rewritten in place; nothing when stderr is not a terminal. */
export class ProgressLine {
  readonly #tty: boolean;
  #shown = false;

  constructor(enabled = true, readonly stream: NodeJS.WriteStream = process.stderr) {
    this.#tty = enabled && !!stream.isTTY;
  }

  update(text: string): void {
    if (!this.#tty) return;
    const width = this.stream.columns || 100;
    this.stream.write('\r\x1b[2K' + text.slice(0, width - 1));
    this.#shown = true;
  }

  done(): void {
    if (this.#shown) this.stream.write('\r\x1b[2K');
    this.#shown = false;
  }
}

/**
 * Text that may come from an untrusted tracker (an error it sent, a log), made safe for a terminal:
 * control characters other than tab and newline shown escaped, so no escape sequence reaches it.
 */
export function escapeControls(text: string): string {
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** `n` and the noun, plural unless n is 1: '1 block', '3 blocks'. */
export function countOf(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export function bar(done: number, total: number, width = 20): string {
  const frac = total > 0 ? Math.min(1, done / total) : 1;
  const full = Math.round(frac * width);
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}] ${(frac * 100).toFixed(0).padStart(3)}%`;
}
