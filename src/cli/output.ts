import Table from 'cli-table3';
import type { HistoryPage, JobPage, JobResponse, RunPage, RunResponse, TickPage } from '../api/schemas';
import { ApiProblemError, ApiResponseError, ApiUnreachableError } from './client';

/** How a command prints what the API answered. */
export const OutputFormat = { table: 'table', json: 'json' } as const;
export type OutputFormat = (typeof OutputFormat)[keyof typeof OutputFormat];

/**
 * The CLI's exit codes (docs/cli.md lists them): a script can tell "fix your input" from "try
 * again later" without parsing messages.
 */
export const ExitCode = {
  ok: 0,
  /** Something unexpected (a bug, or a failed start of `dev`/`worker`/`api`). */
  failure: 1,
  /** Bad command line or configuration: unknown option, missing argument, unreadable job file. */
  usage: 2,
  /** The API refused the request as invalid or conflicting (400, 409, 412, 413, 415, 422). */
  rejected: 3,
  /** The job or run does not exist (404). */
  notFound: 4,
  /** Missing, unknown or insufficient API key (401, 403). */
  unauthorized: 5,
  /** The API cannot be reached, or it or Temporal is unavailable (5xx): try again later. */
  unavailable: 6,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** A mistake in how the CLI was called, reported as such (exit 2), without a stack. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

type Writer = (text: string) => void;

function table(head: string[]): Table.Table {
  // No colours: the output is read by people and by grep alike.
  return new Table({ head, style: { head: [], border: [], compact: true } });
}

function since(iso: string | null | undefined): string {
  return iso === null || iso === undefined ? '-' : iso.replace(/\.\d+Z$/, 'Z');
}

function scheduleText(job: JobResponse): string {
  const s = job.schedule;
  const parts: string[] = [];
  if (s?.cron !== undefined) parts.push(...(Array.isArray(s.cron) ? s.cron : [s.cron]));
  for (const i of s?.intervals ?? []) parts.push(`every ${i.every}`);
  if ((s?.calendars?.length ?? 0) > 0) parts.push(`${s?.calendars?.length} calendar(s)`);
  return parts.join(', ') || '-';
}

function taskText(job: JobResponse): string {
  const task = job.task as { type: string; url?: string; method?: string };
  return task.type === 'http' ? `http ${task.method ?? 'GET'} ${task.url ?? ''}` : task.type;
}

/** Prints a page of the tick ledger. */
export function printTicks(format: OutputFormat, page: TickPage, out: Writer): void {
  if (format === 'json') return out(`${JSON.stringify(page, null, 2)}\n`);
  const t = table(['DUE', 'STATE', 'RUN', 'REASON']);
  for (const tick of page.items)
    t.push([since(tick.at), tick.state, tick.run?.workflowId ?? tick.blockedBy?.workflowId ?? '-', tick.reason]);
  out(`${page.items.length === 0 ? 'No ticks in this window.' : t.toString()}\n`);
  if (page.nextPageToken !== null) out(`More: --page-token ${page.nextPageToken}\n`);
}

/** Prints a page of a job's audit history. */
export function printHistory(format: OutputFormat, page: HistoryPage, out: Writer): void {
  if (format === 'json') return out(`${JSON.stringify(page, null, 2)}\n`);
  const t = table(['#', 'AT', 'ACTION', 'BY', 'OUTCOME', 'STATUS']);
  for (const e of page.items) t.push([e.seq, since(e.at), e.action, e.by.keyId ?? '-', e.outcome, e.status ?? '-']);
  out(`${page.items.length === 0 ? 'No changes recorded.' : t.toString()}\n`);
  if (page.nextPageToken !== null) out(`More: --page-token ${page.nextPageToken}\n`);
}

/** Prints a page of jobs. */
export function printJobs(format: OutputFormat, page: JobPage, out: Writer): void {
  if (format === 'json') return out(`${JSON.stringify(page, null, 2)}\n`);
  const t = table(['ID', 'ORIGIN', 'STATE', 'SCHEDULE', 'TASK', 'NEXT RUN']);
  for (const job of page.items) {
    t.push([
      job.id,
      job.origin,
      job.state.paused ? 'paused' : 'active',
      scheduleText(job),
      taskText(job),
      since(job.nextRunTimes[0]),
    ]);
  }
  out(`${page.items.length === 0 ? 'No jobs.' : t.toString()}\n`);
  if (page.nextPageToken !== null) out(`More: --page-token ${page.nextPageToken}\n`);
}

/** Prints one job. */
export function printJob(format: OutputFormat, job: JobResponse, out: Writer): void {
  if (format === 'json') return out(`${JSON.stringify(job, null, 2)}\n`);
  const t = new Table({ style: { head: [], border: [], compact: true } });
  const rows: Array<[string, string]> = [
    ['id', job.id],
    ['description', job.description ?? ''],
    ['origin', job.origin],
    ['state', job.state.paused ? `paused${job.state.note ? ` (${job.state.note})` : ''}` : 'active'],
    ['schedule', scheduleText(job)],
    ['task', taskText(job)],
    ['next runs', job.nextRunTimes.map(since).join('\n') || '-'],
    ['recent runs', job.recentRuns.map((r) => `${r.workflowId}`).join('\n') || '-'],
    ['updated', since(job.updatedAt)],
    ['web UI', job.webUrl],
    // Where "did it run, and if not, why?" and "who changed it?" are answered.
    ['ticks', `sundial jobs ticks ${job.id}`],
    ['changes', `sundial jobs history ${job.id}`],
  ];
  if (job.warnings.length > 0) rows.push(['warnings', job.warnings.join('\n')]);
  for (const [k, v] of rows) t.push({ [k]: v });
  out(`${t.toString()}\n`);
}

/** Prints a page of runs. */
export function printRuns(format: OutputFormat, page: RunPage, out: Writer): void {
  if (format === 'json') return out(`${JSON.stringify(page, null, 2)}\n`);
  const t = table(['WORKFLOW ID', 'STATUS', 'ATTEMPTS', 'SCHEDULED', 'DURATION']);
  for (const run of page.items) {
    t.push([
      run.workflowId,
      run.status,
      run.attempts ?? '-',
      since(run.scheduledAt),
      run.durationMs === null ? '-' : `${Math.round(run.durationMs)} ms`,
    ]);
  }
  out(`${page.items.length === 0 ? 'No runs.' : t.toString()}\n`);
  if (page.nextPageToken !== null) out(`More: --page-token ${page.nextPageToken}\n`);
}

/** Prints one run. */
export function printRun(format: OutputFormat, run: RunResponse, out: Writer): void {
  if (format === 'json') return out(`${JSON.stringify(run, null, 2)}\n`);
  const t = new Table({ style: { head: [], border: [], compact: true } });
  const rows: Array<[string, string]> = [
    ['workflow id', run.workflowId],
    ['run id', run.runId],
    ['job', run.jobId ?? '-'],
    ['status', run.status],
    ['attempts', String(run.attempts ?? '-')],
    ['scheduled', since(run.scheduledAt)],
    ['started', since(run.startedAt)],
    ['closed', since(run.closedAt)],
    ['duration', run.durationMs === null ? '-' : `${Math.round(run.durationMs)} ms`],
  ];
  if (run.error !== undefined) rows.push(['error', `${run.error.type}: ${run.error.message}`]);
  if (run.result !== undefined) rows.push(['result', JSON.stringify(run.result)]);
  rows.push(['web UI', run.webUrl]);
  for (const [k, v] of rows) t.push({ [k]: v });
  out(`${t.toString()}\n`);
}

/** Prints the answer to a command that changed something: a sentence, or the API's body. */
export function printDone(format: OutputFormat, sentence: string, body: unknown, out: Writer): void {
  if (format === 'json') return out(`${JSON.stringify(body ?? {}, null, 2)}\n`);
  out(`${sentence}\n`);
}

/** The exit code for an HTTP status the API answered with. */
export function exitCodeOf(status: number): ExitCode {
  if (status === 404) return ExitCode.notFound;
  if (status === 401 || status === 403) return ExitCode.unauthorized;
  if (status >= 500) return ExitCode.unavailable;
  return ExitCode.rejected;
}

/**
 * Prints an error for a person (the problem's detail and every field error; never a stack)
 * and returns the exit code it stands for.
 */
export function reportError(err: unknown, err_: Writer): ExitCode {
  if (err instanceof ApiProblemError) {
    const p = err.problem;
    err_(`Error: ${p.title} (HTTP ${p.status}): ${p.detail}\n`);
    for (const e of p.errors ?? []) err_(`  - ${e.path}: ${e.message}\n`);
    return exitCodeOf(p.status);
  }
  if (err instanceof ApiUnreachableError) {
    err_(`Error: ${err.message}\n`);
    return ExitCode.unavailable;
  }
  if (err instanceof ApiResponseError) {
    err_(`Error: ${err.message}\n`);
    return ExitCode.unavailable;
  }
  if (err instanceof UsageError) {
    err_(`Error: ${err.message}\n`);
    return ExitCode.usage;
  }
  err_(`Error: ${(err as Error)?.message ?? String(err)}\n`);
  return ExitCode.failure;
}
