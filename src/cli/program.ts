import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import {
  historyPageSchema,
  jobPageSchema,
  jobSchema,
  runPageSchema,
  runSchema,
  tickPageSchema,
  triggerResultSchema,
} from '../api/schemas';
import { OverlapPolicy } from '../jobs/spec';
import { RunStatus } from '../runs/run-store';
import { projectRoot } from '../util/paths';
import type * as ApiProcess from '../main/api';
import type * as EmbeddedProcess from '../main/embedded';
import type * as WorkerProcess from '../main/worker';
import { ApiClient } from './client';
import {
  ExitCode,
  OutputFormat,
  printDone,
  printHistory,
  printJob,
  printJobs,
  printRun,
  printRuns,
  printTicks,
  reportError,
  UsageError,
} from './output';

/** Where the CLI writes; a test or an embedding program can capture it. */
export interface CliIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

const stdio: CliIo = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) };

/** The API the embedded default (`sundial dev`) serves. */
export const DEFAULT_API_URL = 'http://127.0.0.1:8080';

interface GlobalOptions {
  readonly apiUrl: string;
  readonly apiKey?: string;
  readonly output: OutputFormat;
}

function version(): string {
  return (JSON.parse(readFileSync(path.join(projectRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

/** A JSON option value (`--args '{"count":3}'`). */
function parseJsonOption(value: string): unknown {
  try {
    return JSON.parse(value) as unknown;
  } catch (err) {
    throw new InvalidArgumentError(`is not JSON: ${(err as Error).message}`);
  }
}

/** Reads a JSON file (`-` for stdin) for `jobs create -f`. */
function readJsonFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : path.resolve(file), 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new UsageError(`${file} is not JSON: ${(err as Error).message}`);
  }
}

/**
 * Sets the variables a process command's flags stand for, before the process reads its
 * configuration: a flag is the same as its variable (docs/cli.md).
 */
function applyModuleFlags(opts: { jobs?: string; workflows?: string }): void {
  if (opts.jobs !== undefined) process.env.SUNDIAL_JOBS_MODULE = path.resolve(opts.jobs);
  if (opts.workflows !== undefined) process.env.SUNDIAL_WORKFLOWS_MODULE = path.resolve(opts.workflows);
}

/**
 * Builds the `sundial` program. `run` resolves with the exit code of an operator command, or
 * undefined for a process command (dev, worker, api), which exits through its signals.
 */
export function buildProgram(io: CliIo = stdio): { program: Command; exitCode: () => ExitCode | undefined } {
  let code: ExitCode | undefined = ExitCode.ok;
  const program = new Command('sundial')
    .description('Sundial: durable job scheduling for TypeScript, on Temporal.')
    .version(version(), '-v, --version')
    .addOption(
      new Option('--api-url <url>', 'the Sundial API to talk to').env('SUNDIAL_API_URL').default(DEFAULT_API_URL),
    )
    .addOption(new Option('--api-key <key>', 'API key, sent as a Bearer token').env('SUNDIAL_API_KEY'))
    .addOption(
      new Option('-o, --output <format>', 'output format')
        .choices(Object.values(OutputFormat))
        .default(OutputFormat.table),
    )
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  /** Runs an operator command: its errors are printed for a person and become an exit code. */
  const api =
    <A extends unknown[]>(fn: (client: ApiClient, g: GlobalOptions, ...args: A) => Promise<void>) =>
    async (...args: A) => {
      const g = program.opts<GlobalOptions>();
      const client = new ApiClient({ baseUrl: g.apiUrl, apiKey: g.apiKey });
      try {
        await fn(client, g, ...args);
        code = ExitCode.ok;
      } catch (err) {
        code = reportError(err, io.err);
      }
    };
  const id = (s: string) => encodeURIComponent(s);

  // Processes. Their modules are required when run, so that an operator command does not load
  // the worker, its bundler and the Temporal runtime.
  program
    .command('dev')
    .description(
      'run everything on this machine: a Temporal dev server, a worker and the API, with your jobs (what `npm start` does in the Sundial repository)',
    )
    .option('--jobs <file>', 'your jobs module (.ts or .js); default $SUNDIAL_JOBS_MODULE, else the examples')
    .option(
      '--workflows <file>',
      'your workflows module for multi-step jobs (.ts or .js); default $SUNDIAL_WORKFLOWS_MODULE',
    )
    .action((opts: { jobs?: string; workflows?: string }) => {
      applyModuleFlags(opts);
      code = undefined;
      (require('../main/embedded') as typeof EmbeddedProcess).runEmbeddedProcess();
    });
  program
    .command('worker')
    .description('run a worker on an existing cluster (TEMPORAL_ADDRESS): your jobs, reconciled at start-up')
    .option('--jobs <file>', 'your jobs module (.ts or .js); default $SUNDIAL_JOBS_MODULE, else the examples')
    .option('--workflows <file>', 'your workflows module for multi-step jobs; default $SUNDIAL_WORKFLOWS_MODULE')
    .action((opts: { jobs?: string; workflows?: string }) => {
      applyModuleFlags(opts);
      code = undefined;
      (require('../main/worker') as typeof WorkerProcess).runWorkerProcess();
    });
  program
    .command('api')
    .description('run the REST API on an existing cluster (TEMPORAL_ADDRESS)')
    .option('--jobs <file>', 'your jobs module, for the code job types the API lists and validates')
    .action((opts: { jobs?: string }) => {
      applyModuleFlags(opts);
      code = undefined;
      (require('../main/api') as typeof ApiProcess).runApiProcess();
    });

  // Operator commands.
  const trigger = (cmd: Command) =>
    cmd
      .argument('<jobId>')
      .addOption(new Option('--overlap <policy>', 'overlap policy for this run').choices(Object.values(OverlapPolicy)))
      .option(
        '--idempotency-key <key>',
        'a retry with the same key answers with the same run instead of starting another',
      )
      .option(
        '--args <json>',
        "this run only: a JSON merge patch over the job's args (code jobs) or request fields (HTTP jobs)",
        parseJsonOption,
      )
      .option('--reason <text>', 'why: recorded in the run with your API key id')
      .action(
        api(
          async (
            client,
            g,
            jobId: string,
            opts: { overlap?: string; idempotencyKey?: string; args?: unknown; reason?: string },
          ) => {
            const body = await client.request('POST', `/jobs/${id(jobId)}/trigger`, triggerResultSchema, {
              body: {
                ...(opts.overlap === undefined ? {} : { overlap: opts.overlap }),
                ...(opts.args === undefined ? {} : { args: opts.args }),
                ...(opts.reason === undefined ? {} : { reason: opts.reason }),
              },
              ...(opts.idempotencyKey === undefined ? {} : { headers: { 'idempotency-key': opts.idempotencyKey } }),
            });
            printDone(
              g.output,
              body.workflowId === null
                ? `Triggered ${jobId}: ${body.note ?? 'no new run'}`
                : `Triggered ${jobId}: run ${body.workflowId}`,
              body,
              io.out,
            );
          },
        ),
      );

  const jobs = program.command('jobs').description('list, inspect and change jobs');
  jobs
    .command('list')
    .description('list jobs (one page; --page-token for the next)')
    .addOption(
      new Option('--origin <origin>', 'only jobs defined in code, or created over the API').choices(['code', 'api']),
    )
    .option('--paused', 'only paused jobs')
    .option('--active', 'only jobs that are not paused')
    .option('--prefix <idPrefix>', 'only jobs whose id starts with this')
    .option('--page-size <n>', 'jobs per page (1-500)', positiveInt)
    .option('--page-token <token>', 'the next page, from the previous answer')
    .action(
      api(
        async (
          client,
          g,
          opts: {
            origin?: string;
            paused?: boolean;
            active?: boolean;
            prefix?: string;
            pageSize?: number;
            pageToken?: string;
          },
        ) => {
          if (opts.paused && opts.active) throw new UsageError('--paused and --active exclude each other');
          const page = await client.request('GET', '/jobs', jobPageSchema, {
            query: {
              origin: opts.origin,
              paused: opts.paused ? 'true' : opts.active ? 'false' : undefined,
              idPrefix: opts.prefix,
              pageSize: opts.pageSize,
              pageToken: opts.pageToken,
            },
          });
          printJobs(g.output, page, io.out);
        },
      ),
    );
  jobs
    .command('get')
    .description('show one job: its spec, state, next and recent runs')
    .argument('<jobId>')
    .action(
      api(async (client, g, jobId: string) => {
        printJob(g.output, await client.request('GET', `/jobs/${id(jobId)}`, jobSchema), io.out);
      }),
    );
  jobs
    .command('create')
    .description('create a job from a JSON JobSpec file (- for stdin)')
    .requiredOption('-f, --file <file>', 'the JobSpec as JSON')
    .action(
      api(async (client, g, opts: { file: string }) => {
        const spec = readJsonFile(opts.file);
        const job = await client.request('POST', '/jobs', jobSchema, { body: spec });
        if (g.output === 'json') printJob(g.output, job, io.out);
        else printDone(g.output, `Created job ${job.id}.`, job, io.out);
      }),
    );
  for (const [verb, done] of [
    ['pause', 'Paused'],
    ['unpause', 'Unpaused'],
  ] as const) {
    jobs
      .command(verb)
      .description(`${verb} a job's schedule (runs in flight are not affected)`)
      .argument('<jobId>')
      .option('--note <text>', 'why, shown with the job')
      .action(
        api(async (client, g, jobId: string, opts: { note?: string }) => {
          const job = await client.request('POST', `/jobs/${id(jobId)}/${verb}`, jobSchema, {
            body: opts.note === undefined ? {} : { note: opts.note },
          });
          printDone(g.output, `${done} job ${job.id}.`, job, io.out);
        }),
      );
  }
  trigger(jobs.command('trigger').description('start a run of a job now'));
  jobs
    .command('backfill')
    .description('run the ticks a job would have had between two times')
    .argument('<jobId>')
    .requiredOption('--start <time>', 'RFC 3339 time, e.g. 2026-01-01T00:00:00Z')
    .requiredOption('--end <time>', 'RFC 3339 time')
    .addOption(
      new Option('--overlap <policy>', 'overlap policy for the backfilled runs').choices(Object.values(OverlapPolicy)),
    )
    .action(
      api(async (client, g, jobId: string, opts: { start: string; end: string; overlap?: string }) => {
        const body = await client.request('POST', `/jobs/${id(jobId)}/backfill`, undefined, {
          body: { start: opts.start, end: opts.end, ...(opts.overlap === undefined ? {} : { overlap: opts.overlap }) },
        });
        printDone(g.output, `Backfill of ${jobId} from ${opts.start} to ${opts.end} accepted.`, body, io.out);
      }),
    );
  jobs
    .command('ticks')
    .description(
      'every time the job was due in a window, and what became of it (ran, skipped, missed, paused...) with a reason',
    )
    .argument('<jobId>')
    .option('--from <time>', 'RFC 3339 start of the window (default: 24 hours ago)')
    .option('--to <time>', 'RFC 3339 end of the window (default: now)')
    .option('--page-size <n>', 'ticks per page (1-500)', positiveInt)
    .option('--page-token <token>', 'the next page, from the previous answer')
    .action(
      api(
        async (
          client,
          g,
          jobId: string,
          opts: { from?: string; to?: string; pageSize?: number; pageToken?: string },
        ) => {
          const to = opts.to ?? new Date().toISOString();
          const from = opts.from ?? new Date(Date.parse(to) - 24 * 3600_000).toISOString();
          const page = await client.request('GET', `/jobs/${id(jobId)}/ticks`, tickPageSchema, {
            query: { from, to, pageSize: opts.pageSize, pageToken: opts.pageToken },
          });
          printTicks(g.output, page, io.out);
        },
      ),
    );
  jobs
    .command('history')
    .description('who changed the job, when and how (the audit of API writes), newest first')
    .argument('<jobId>')
    .option('--page-size <n>', 'entries per page (1-100)', positiveInt)
    .option('--page-token <token>', 'the next page, from the previous answer')
    .action(
      api(async (client, g, jobId: string, opts: { pageSize?: number; pageToken?: string }) => {
        const page = await client.request('GET', `/jobs/${id(jobId)}/history`, historyPageSchema, {
          query: { pageSize: opts.pageSize, pageToken: opts.pageToken },
        });
        printHistory(g.output, page, io.out);
      }),
    );
  jobs
    .command('delete')
    .description('delete a job (its schedule; finished runs stay in Temporal)')
    .argument('<jobId>')
    .action(
      api(async (client, g, jobId: string) => {
        await client.request('DELETE', `/jobs/${id(jobId)}`, undefined);
        printDone(g.output, `Deleted job ${jobId}.`, { id: jobId, deleted: true }, io.out);
      }),
    );

  const runs = program.command('runs').description("list, inspect and cancel a job's runs");
  runs
    .command('list')
    .description("list a job's runs, newest first")
    .argument('<jobId>')
    .addOption(new Option('--status <status>', 'only runs with this status').choices(Object.values(RunStatus)))
    .option('--page-size <n>', 'runs per page (1-100)', positiveInt)
    .option('--page-token <token>', 'the next page, from the previous answer')
    .action(
      api(async (client, g, jobId: string, opts: { status?: string; pageSize?: number; pageToken?: string }) => {
        const page = await client.request('GET', `/jobs/${id(jobId)}/runs`, runPageSchema, {
          query: { status: opts.status, pageSize: opts.pageSize, pageToken: opts.pageToken },
        });
        printRuns(g.output, page, io.out);
      }),
    );
  runs
    .command('get')
    .description('show one run: status, attempts, result or error')
    .argument('<workflowId>')
    .option('--run-id <runId>', 'a specific execution (default: the latest)')
    .action(
      api(async (client, g, workflowId: string, opts: { runId?: string }) => {
        printRun(
          g.output,
          await client.request('GET', `/runs/${id(workflowId)}`, runSchema, { query: { runId: opts.runId } }),
          io.out,
        );
      }),
    );
  runs
    .command('cancel')
    .description('cancel a run: its attempt gets the AbortSignal, and no further attempt starts')
    .argument('<workflowId>')
    .option('--run-id <runId>', 'a specific execution (default: the latest)')
    .option('--reason <text>', 'why')
    .action(
      api(async (client, g, workflowId: string, opts: { runId?: string; reason?: string }) => {
        const body = await client.request('POST', `/runs/${id(workflowId)}/cancel`, undefined, {
          query: { runId: opts.runId },
          body: opts.reason === undefined ? {} : { reason: opts.reason },
        });
        printDone(g.output, `Cancellation of ${workflowId} requested.`, body, io.out);
      }),
    );

  trigger(program.command('trigger').description('start a run of a job now (= jobs trigger)'));

  return { program, exitCode: () => code };
}

/**
 * Parses `argv` and runs the command. Resolves with the exit code of an operator command or a
 * usage error, or undefined for a process command that keeps running.
 */
export async function runCli(argv: readonly string[], io: CliIo = stdio): Promise<ExitCode | undefined> {
  const { program, exitCode } = buildProgram(io);
  try {
    await program.parseAsync([...argv]);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and --version end here too, with their own code 0.
      return err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    return reportError(err, io.err);
  }
  return exitCode();
}
