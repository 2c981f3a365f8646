#!/usr/bin/env node
/**
 * The `sundial` command (package.json `bin`). docs/cli.md is its reference; ./program builds it.
 */
import { runCli } from './program';

runCli(process.argv).then(
  (code) => {
    // undefined: a process command (dev, worker, api) that exits through its signals.
    if (code !== undefined) process.exitCode = code;
  },
  (err: unknown) => {
    // Every command reports its own errors; only a bug in the CLI itself gets here.
    process.stderr.write(`sundial: ${(err as Error)?.message ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
