/**
 * `npm test` and `npm run test:ha`: finds (or builds, once) the Temporal CLI, starts one
 * in-memory dev server for the whole run, runs the suite's compiled test files one file at a
 * time with node's test runner against it, and stops the server. Tests that need their own
 * server (restart, embedded start) start it themselves.
 *
 * Usage: `run-tests.js [--suite=default|ha] [--server=dev|full|full-chasm|full-sqlite-chasm] [files...]`. The
 * default suite is every test under dist/test except dist/test/ha; `--suite=ha` is the
 * fault-injection tests under dist/test/ha (slow, minutes: killed workers, API replicas and
 * servers). `--server=full` runs them against the full Temporal server (one node on the local
 * PostgreSQL, test/support/cluster.ts) instead of the dev server; `full-chasm` the same with new
 * schedules created on the CHASM scheduler, to check Sundial against it; `full-sqlite-chasm` that
 * on a SQLite file (one history shard), as a candidate embedded default would run.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger } from '../../src/observability/logger';
import { ensureTemporalCli } from '../../src/temporal/cli';
import { startDevServer } from '../../src/temporal/dev-server';
import { CHASM_SCHEDULER, startCluster } from './cluster';
import { freePort } from './ports';
import { ensureServerBinaries } from './server-binaries';

/** The test suites: which folder under dist/test they run, and which folders they leave out. */
const SUITES = {
  default: { dir: '.', exclude: ['ha'], nodeArgs: [] },
  // One file at a time whatever the core count: each kills processes and measures timings.
  ha: { dir: 'ha', exclude: [], nodeArgs: ['--test-concurrency=1'] },
} as const;
type Suite = keyof typeof SUITES;

/** The Temporal servers a run can use: the dev server, or the full server with its store and dynamic config. */
const SERVERS = {
  dev: undefined,
  full: { sqlite: false, dynamicConfig: {} },
  'full-chasm': { sqlite: false, dynamicConfig: CHASM_SCHEDULER },
  'full-sqlite-chasm': { sqlite: true, dynamicConfig: CHASM_SCHEDULER },
} as const;
type ServerKind = keyof typeof SERVERS;

function testFiles(dir: string, exclude: readonly string[]): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return exclude.includes(name) ? [] : testFiles(full, []);
    return name.endsWith('.test.js') ? [full] : [];
  });
}

function parseArgs(argv: string[]): { suite: Suite; server: ServerKind; only: string[] } {
  let suite: Suite = 'default';
  let server: ServerKind = 'dev';
  const only: string[] = [];
  for (const arg of argv) {
    const m = /^--(suite|server)=(.*)$/.exec(arg);
    if (m === null) {
      only.push(arg);
      continue;
    }
    const [, flag, value] = m as unknown as [string, 'suite' | 'server', string];
    const allowed = flag === 'suite' ? SUITES : SERVERS;
    if (!Object.hasOwn(allowed, value))
      throw new Error(`--${flag} must be one of ${Object.keys(allowed).join(', ')}, not ${JSON.stringify(value)}`);
    if (flag === 'suite') suite = value as Suite;
    else server = value as ServerKind;
  }
  return { suite, server, only };
}

/** The server the tests talk to: the in-memory dev server, or a one-node full server. */
async function startServer(
  kind: ServerKind,
  cliPath: string,
  logger: ReturnType<typeof createLogger>,
): Promise<{ address: string; stop(): Promise<void> }> {
  const full = SERVERS[kind];
  if (full === undefined) {
    const server = await startDevServer({
      cliPath,
      dataDir: undefined,
      port: await freePort(),
      uiPort: undefined,
      namespace: 'default',
      logger,
    });
    return { address: server.address, stop: () => server.stop() };
  }
  const dataDir = full.sqlite ? mkdtempSync(path.join(tmpdir(), 'sundial-tests-')) : undefined;
  const cluster = await startCluster({
    binaries: await ensureServerBinaries(),
    dbPrefix: `sundial_tests_${process.pid}_`,
    nodes: 1,
    dynamicConfig: full.dynamicConfig,
    ...(dataDir === undefined ? {} : { sqliteFile: path.join(dataDir, 'temporal.db'), numHistoryShards: 1 }),
  });
  return {
    address: cluster.frontendAddresses[0]!,
    async stop() {
      await cluster.stop();
      if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function main(): Promise<number> {
  const { suite, server: kind, only } = parseArgs(process.argv.slice(2));
  const logger = createLogger(process.env.LOG_LEVEL ?? 'error');
  const cli = await ensureTemporalCli();
  const server = await startServer(kind, cli.path, logger);
  const { dir, exclude, nodeArgs } = SUITES[suite];
  const root = path.resolve(__dirname, '..', dir);
  const files = (only.length > 0 ? only.map((f) => path.resolve(f)) : testFiles(root, exclude)).sort();
  process.stderr.write(
    `Temporal ${kind === 'dev' ? 'dev server' : `${kind} server`} ${server.address} (CLI: ${cli.path}); suite ${suite}: ${files.length} test files\n`,
  );
  try {
    return await new Promise<number>((resolve) => {
      const child = spawn(process.execPath, ['--test', '--test-reporter=spec', ...nodeArgs, ...files], {
        stdio: 'inherit',
        env: {
          ...process.env,
          SUNDIAL_TEST_TEMPORAL_ADDRESS: server.address,
          SUNDIAL_TEST_TEMPORAL_CLI: cli.path,
          LOG_LEVEL: process.env.LOG_LEVEL ?? 'error',
        },
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
