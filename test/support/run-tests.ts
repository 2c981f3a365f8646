/**
 * `npm test` and `npm run test:ha`: finds (or builds, once) the Temporal CLI, starts one
 * in-memory dev server for the whole run, runs the suite's compiled test files one file at a
 * time with node's test runner against it, and stops the server. Tests that need their own
 * server (restart, embedded start) start it themselves.
 *
 * Usage: `run-tests.js [--suite=default|ha] [files...]`. The default suite is every test under
 * dist/test except dist/test/ha; `--suite=ha` is the fault-injection tests under dist/test/ha
 * (slow, minutes: killed workers, API replicas and servers).
 */
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { createLogger } from '../../src/observability/logger';
import { ensureTemporalCli } from '../../src/temporal/cli';
import { startDevServer } from '../../src/temporal/dev-server';
import { freePort } from './ports';

/** The test suites: which folder under dist/test they run, and which folders they leave out. */
const SUITES = {
  default: { dir: '.', exclude: ['ha'], nodeArgs: [] },
  // One file at a time whatever the core count: each kills processes and measures timings.
  ha: { dir: 'ha', exclude: [], nodeArgs: ['--test-concurrency=1'] },
} as const;
type Suite = keyof typeof SUITES;

function testFiles(dir: string, exclude: readonly string[]): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return exclude.includes(name) ? [] : testFiles(full, []);
    return name.endsWith('.test.js') ? [full] : [];
  });
}

function parseArgs(argv: string[]): { suite: Suite; only: string[] } {
  let suite: Suite = 'default';
  const only: string[] = [];
  for (const arg of argv) {
    const m = /^--suite=(.*)$/.exec(arg);
    if (m === null) {
      only.push(arg);
      continue;
    }
    if (!Object.hasOwn(SUITES, m[1]!)) throw new Error(`--suite must be one of ${Object.keys(SUITES).join(', ')}, not ${JSON.stringify(m[1])}`);
    suite = m[1] as Suite;
  }
  return { suite, only };
}

async function main(): Promise<number> {
  const { suite, only } = parseArgs(process.argv.slice(2));
  const logger = createLogger(process.env.LOG_LEVEL ?? 'error');
  const cli = await ensureTemporalCli();
  const port = await freePort();
  const server = await startDevServer({ cliPath: cli.path, dataDir: undefined, port, uiPort: undefined, namespace: 'default', logger });
  const { dir, exclude, nodeArgs } = SUITES[suite];
  const root = path.resolve(__dirname, '..', dir);
  const files = (only.length > 0 ? only.map((f) => path.resolve(f)) : testFiles(root, exclude)).sort();
  process.stderr.write(`Temporal dev server ${server.address} (CLI: ${cli.path}); suite ${suite}: ${files.length} test files\n`);
  try {
    return await new Promise<number>((resolve) => {
      const child = spawn(process.execPath, ['--test', '--test-reporter=spec', ...nodeArgs, ...files], {
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
