import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { waitFor } from './temporal';

/** One tmux server of its own (its own socket), with one window running an interactive bash. */
export class Terminal {
  private readonly socket = `sundial-test-${randomUUID()}`;
  constructor(readonly transcript: string) {
    this.tmux('new-session', '-d', '-s', 'main', '-x', '220', '-y', '50', 'bash --noprofile --norc -i');
    // Everything the pane shows, as it is shown, goes to the transcript.
    this.tmux('pipe-pane', '-t', 'main', '-o', `cat >> '${transcript}'`);
  }
  tmux(...args: string[]): string {
    return execFileSync('tmux', ['-L', this.socket, ...args], { encoding: 'utf8' });
  }
  type(line: string): void {
    this.tmux('send-keys', '-t', 'main', '-l', line);
    this.tmux('send-keys', '-t', 'main', 'Enter');
  }
  ctrlC(): void {
    this.tmux('send-keys', '-t', 'main', 'C-c');
  }
  output(): string {
    return existsSync(this.transcript) ? readFileSync(this.transcript, 'utf8') : '';
  }
  async waitFor(what: string, pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
    return waitFor(what, timeoutMs, () => pattern.exec(this.output()) ?? undefined).catch((err: Error) =>
      assert.fail(`${err.message}; terminal so far:\n${this.output().slice(-3000)}`),
    );
  }
  kill(): void {
    try {
      this.tmux('kill-server');
    } catch {
      // already gone
    }
  }
}
