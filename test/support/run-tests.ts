/**
 * `npm test`: finds (or builds, once) the Temporal CLI, starts one in-memory dev server for the
 * whole run, runs every compiled test file with node's test runner against it, and stops the
 * server. Tests that need their own server (restart, embedded start) start it themselves.
 */
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { createLogger } from '../../src/observability/logger';
import { ensureTemporalCli } from '../../src/temporal/cli';
import { startDevServer } from '../../src/temporal/dev-server';
import { freePort } from './ports';

/** Folders `npm test` leaves out: the fault tests under test/ha run with their own clusters and runner. */
const NOT_IN_NPM_TEST = new Set(['ha']);

function testFiles(dir: string, top = true): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return top && NOT_IN_NPM_TEST.has(name) ? [] : testFiles(full, false);
    return name.endsWith('.test.js') ? [full] : [];
  });
}

async function main(): Promise<number> {
  const logger = createLogger(process.env.LOG_LEVEL ?? 'error');
  const cli = await ensureTemporalCli();
  const port = await freePort();
  const server = await startDevServer({ cliPath: cli.path, dataDir: undefined, port, uiPort: undefined, namespace: 'default', logger });
  const root = path.resolve(__dirname, '..');
  const only = process.argv.slice(2);
  const files = (only.length > 0 ? only.map((f) => path.resolve(f)) : testFiles(root)).sort();
  process.stderr.write(`Temporal dev server ${server.address} (CLI: ${cli.path}); ${files.length} test files\n`);
  try {
    return await new Promise<number>((resolve) => {
      const child = spawn(process.execPath, ['--test', '--test-reporter=spec', ...files], {
        stdio: 'inherit',
        env: { ...process.env, SUNDIAL_TEST_TEMPORAL_ADDRESS: server.address, SUNDIAL_TEST_TEMPORAL_CLI: cli.path, LOG_LEVEL: process.env.LOG_LEVEL ?? 'error' },
      });
      child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
    });
  } finally {
    await server.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`test run failed to start: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
