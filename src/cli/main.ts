#!/usr/bin/env node
/**
 * The `sundial` command (package.json `bin`). docs/cli.md is its reference; ./program builds it.
 */
import { runCli } from './program';

let settled = false;
// Node ends a process whose event loop has emptied even while a promise still waits: an operator
// command that ends so has answered nothing, and must not look like a success to a script (a CI
// run once saw `sundial runs list` exit 0 with empty stdout). A process command (dev, worker,
// api) settles at once and exits through its signals, untouched by this.
process.on('exit', () => {
  if (settled) return;
  process.stderr.write('sundial: the command ended before it had an answer (nothing was left to wait on)\n');
  process.exitCode = 1;
});

runCli(process.argv).then(
  (code) => {
    settled = true;
    // undefined: a process command (dev, worker, api) that exits through its signals.
    if (code !== undefined) process.exitCode = code;
  },
  (err: unknown) => {
    settled = true;
    // Every command reports its own errors; only a bug in the CLI itself gets here.
    process.stderr.write(`sundial: ${(err as Error)?.message ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
