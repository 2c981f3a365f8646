import {
  WorkflowFailedError,
  WorkflowNotFoundError,
  type Client,
  type WorkflowExecutionInfo,
  type WorkflowHandle,
} from '@temporalio/client';
import { ApplicationFailure, defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { executionInfoFromRaw } from '@temporalio/client/lib/helpers';
import type { temporal } from '@temporalio/proto';
import {
  JOB_WORKFLOW_TYPE,
  OUTCOME_MEMO_KEY,
  TRIGGER_MEMO_KEY,
  type AttemptOutcomes,
  type FallbackInfo,
  type RunError,
  type RunOutcome,
  type RunSummary,
  type TriggerInfo,
} from '../jobs/run-types';
import {
  NOTIFY_MEMO_KEY,
  NOTIFY_WORKFLOW_TYPE,
  notifyWorkflowPrefix,
  type DeliveryRecord,
  type NotifyMemo,
} from '../notify/plan';
import { SundialJobId, SundialStatus } from '../temporal/search-attributes';
import { InvalidRequestError } from '../schedules/errors';
import { openPageToken, sealPageToken } from '../temporal/page-token';
import { RunNotFoundError } from './errors';

const TemporalScheduledStartTime = defineSearchAttributeKey('TemporalScheduledStartTime', SearchAttributeType.DATETIME);

/** A run's status as the API shows it. */
export const RunStatus = {
  running: 'running',
  succeeded: 'succeeded',
  failed: 'failed',
  degraded: 'degraded',
  cancelled: 'cancelled',
  terminated: 'terminated',
  timed_out: 'timed_out',
} as const;
export type RunStatus = (typeof RunStatus)[keyof typeof RunStatus];

/** Temporal's execution status for each API status, for visibility queries. */
const EXECUTION_STATUS: Record<Exclude<RunStatus, 'degraded'>, string> = {
  running: 'Running',
  succeeded: 'Completed',
  failed: 'Failed',
  cancelled: 'Canceled',
  terminated: 'Terminated',
  timed_out: 'TimedOut',
};

/** The executions a run left behind when it continued as new: not runs of their own. */
const CONTINUED_LEFT_OUT = 'ExecutionStatus != "ContinuedAsNew"';

export interface RunView {
  readonly workflowId: string;
  readonly runId: string;
  readonly jobId: string | null;
  readonly status: RunStatus;
  readonly scheduledAt: string;
  readonly startedAt: string;
  readonly closedAt: string | null;
  readonly attempts: number | null;
  readonly attemptOutcomes?: AttemptOutcomes;
  readonly lagMs?: number;
  /** The run's own measure when it recorded one, else start to close; null while it runs. */
  readonly durationMs: number | null;
  readonly result?: unknown;
  readonly error?: RunError;
  readonly fallback?: FallbackInfo;
  /** For a run started by hand over the API (directly, not through the schedule): who, when, why, with what. */
  readonly trigger?: Omit<TriggerInfo, 'requestHash'>;
  readonly webUrl: string;
}

function statusOf(info: Pick<WorkflowExecutionInfo, 'status'>): RunStatus {
  switch (info.status.name) {
    case 'RUNNING':
      return 'running';
    case 'COMPLETED':
      return 'succeeded';
    case 'FAILED':
      return 'failed';
    case 'CANCELLED':
      return 'cancelled';
    case 'TERMINATED':
      return 'terminated';
    case 'TIMED_OUT':
      return 'timed_out';
    default:
      return 'running';
  }
}

export interface RunPage {
  readonly items: RunView[];
  readonly nextPageToken: string | null;
}

/** One event of one run, as notified: where it went and how each delivery went. */
export interface NotificationView {
  readonly event: string;
  /** The run it is about. */
  readonly workflowId: string;
  readonly runId: string;
  /** `pending` while any delivery is still being tried, `delivered` when all were, else `failed`. */
  readonly status: 'pending' | 'delivered' | 'failed';
  readonly deliveries: readonly DeliveryRecord[];
  readonly startedAt: string;
  readonly closedAt: string | null;
  /** The notification workflow in Temporal's Web UI (its pending attempts and their last failure). */
  readonly webUrl: string;
}

export interface NotificationPage {
  readonly items: NotificationView[];
  readonly nextPageToken: string | null;
}

/** Runs of Sundial's jobs, read from Temporal's visibility and histories. */
export class RunStore {
  constructor(private readonly deps: { client: Client; webUiUrl: string }) {}

  webUrlForRun(workflowId: string, runId: string): string {
    const ns = encodeURIComponent(this.deps.client.options.namespace);
    return `${this.deps.webUiUrl}/namespaces/${ns}/workflows/${encodeURIComponent(workflowId)}/${encodeURIComponent(runId)}/history`;
  }

  private view(info: Omit<WorkflowExecutionInfo, 'raw'>, extra: Partial<RunView> = {}): RunView {
    const summary = info.memo?.[OUTCOME_MEMO_KEY] as RunSummary | undefined;
    const scheduled = info.typedSearchAttributes.get(TemporalScheduledStartTime) as Date | undefined;
    const trigger = info.memo?.[TRIGGER_MEMO_KEY] as TriggerInfo | undefined;
    return {
      workflowId: info.workflowId,
      runId: info.runId,
      jobId: (info.typedSearchAttributes.get(SundialJobId) as string | undefined) ?? null,
      status: summary?.status === 'degraded' ? 'degraded' : statusOf(info),
      scheduledAt: (scheduled ?? info.startTime).toISOString(),
      startedAt: info.startTime.toISOString(),
      closedAt: info.closeTime?.toISOString() ?? null,
      attempts: summary?.attempts ?? null,
      ...(summary?.attemptOutcomes === undefined ? {} : { attemptOutcomes: summary.attemptOutcomes }),
      ...(summary?.lagMs === undefined ? {} : { lagMs: summary.lagMs }),
      durationMs:
        summary?.durationMs ??
        (info.closeTime === undefined ? null : info.closeTime.getTime() - info.startTime.getTime()),
      ...(summary?.error === undefined ? {} : { error: summary.error }),
      ...(summary?.fallback === undefined ? {} : { fallback: summary.fallback }),
      ...(trigger === undefined ? {} : { trigger: triggerView(trigger) }),
      webUrl: this.webUrlForRun(info.workflowId, info.runId),
      ...extra,
    };
  }

  /** A job's runs, newest first, from visibility. */
  async list(jobId: string, opts: { status?: RunStatus; pageSize: number; pageToken?: string }): Promise<RunPage> {
    // A run that continued as new is one run: its earlier executions are left out.
    const clauses = [`${SundialJobId.name} = ${JSON.stringify(jobId)}`, CONTINUED_LEFT_OUT];
    if (opts.status === 'degraded') clauses.push(`${SundialStatus.name} = "degraded"`);
    else if (opts.status === 'succeeded')
      clauses.push(`ExecutionStatus = "Completed" AND ${SundialStatus.name} != "degraded"`);
    else if (opts.status !== undefined)
      clauses.push(`ExecutionStatus = ${JSON.stringify(EXECUTION_STATUS[opts.status])}`);
    return this.query(clauses.join(' AND '), opts.pageSize, opts.pageToken);
  }

  /**
   * Every job run (of any job) that closed at or after `since`, one page at a time, for the
   * metrics collector. Child workflows of multi-step jobs are not runs and are left out.
   */
  async closedSince(since: Date, opts: { pageSize: number; pageToken?: string }): Promise<RunPage> {
    return this.query(
      `WorkflowType = "${JOB_WORKFLOW_TYPE}" AND CloseTime >= "${since.toISOString()}" AND ${CONTINUED_LEFT_OUT}`,
      opts.pageSize,
      opts.pageToken,
    );
  }

  /**
   * A job's notifications, newest first: one per run and event, from the notification
   * workflows' memos in visibility (so a moment late, like the run list).
   */
  async notifications(jobId: string, opts: { pageSize: number; pageToken?: string }): Promise<NotificationPage> {
    const query = `WorkflowType = "${NOTIFY_WORKFLOW_TYPE}" AND WorkflowId STARTS_WITH ${JSON.stringify(notifyWorkflowPrefix(jobId))}`;
    const { executions, nextPageToken } = await this.page(query, opts.pageSize, opts.pageToken);
    const items: NotificationView[] = [];
    for (const info of executions) {
      const memo = info.memo?.[NOTIFY_MEMO_KEY] as NotifyMemo | undefined;
      if (memo === undefined) continue;
      const deliveries = memo.deliveries;
      const running = info.closeTime === undefined;
      const status =
        running || deliveries.some((d) => d.state === 'pending')
          ? 'pending'
          : deliveries.every((d) => d.state === 'delivered')
            ? 'delivered'
            : 'failed';
      items.push({
        event: memo.event,
        workflowId: memo.workflowId,
        runId: memo.runId,
        status,
        deliveries,
        startedAt: info.startTime.toISOString(),
        closedAt: info.closeTime?.toISOString() ?? null,
        webUrl: this.webUrlForRun(info.workflowId, info.runId),
      });
    }
    return { items, nextPageToken };
  }

  /**
   * A job's runs whose tick (`TemporalScheduledStartTime`) is in [from, to], at most `limit`:
   * the runs a tick ledger joins to its ticks.
   */
  async scheduledBetween(jobId: string, from: Date, to: Date, limit: number): Promise<RunView[]> {
    return this.upTo(
      `${SundialJobId.name} = ${JSON.stringify(jobId)} AND ${TemporalScheduledStartTime.name} >= "${from.toISOString()}" AND ${TemporalScheduledStartTime.name} <= "${to.toISOString()}"`,
      limit,
    );
  }

  /** A job's runs open at some time in [from, to] (started by `to`, not closed before `from`), at most `limit`. */
  async openBetween(jobId: string, from: Date, to: Date, limit: number): Promise<RunView[]> {
    return this.upTo(
      `${SundialJobId.name} = ${JSON.stringify(jobId)} AND StartTime <= "${to.toISOString()}" AND (ExecutionStatus = "Running" OR CloseTime >= "${from.toISOString()}")`,
      limit,
    );
  }

  private async upTo(query: string, limit: number): Promise<RunView[]> {
    const items: RunView[] = [];
    let token: string | undefined;
    do {
      const page = await this.query(query, Math.min(1000, limit - items.length), token);
      items.push(...page.items);
      token = page.nextPageToken ?? undefined;
    } while (token !== undefined && items.length < limit);
    return items;
  }

  private async query(query: string, pageSize: number, pageToken: string | undefined): Promise<RunPage> {
    const { executions, nextPageToken } = await this.page(query, pageSize, pageToken);
    return { items: executions.map((info) => this.view(info)), nextPageToken };
  }

  /** One page of a visibility query, decoded; page tokens sealed to the query. */
  private async page(
    query: string,
    pageSize: number,
    pageToken: string | undefined,
  ): Promise<{ executions: Array<Omit<WorkflowExecutionInfo, 'raw'>>; nextPageToken: string | null }> {
    const { client } = this.deps;
    const token = pageToken === undefined ? undefined : openPageToken(pageToken, query);
    if (pageToken !== undefined && token === undefined) {
      throw new InvalidRequestError([
        { path: 'query.pageToken', message: 'is not a page token of this list with these filters' },
      ]);
    }
    const res = await client.workflowService.listWorkflowExecutions({
      namespace: client.options.namespace,
      query,
      pageSize,
      ...(token === undefined ? {} : { nextPageToken: token }),
    });
    const executions: Array<Omit<WorkflowExecutionInfo, 'raw'>> = [];
    for (const raw of res.executions ?? []) executions.push(await decodeExecution(client, raw));
    const next = res.nextPageToken;
    return { executions, nextPageToken: next && next.length > 0 ? sealPageToken(next, query) : null };
  }

  /**
   * A job run's description. Only runs of Sundial's jobs are found: a workflow of another type
   * (a breaker, a multi-step job's attempt, another application's) or without `SundialJobId`
   * is not a run, and the runs API must not read, cancel or terminate it.
   * @returns the description and a handle on exactly that execution.
   * @throws RunNotFoundError
   */
  private async describeRun(
    workflowId: string,
    runId?: string,
  ): Promise<{ info: Omit<WorkflowExecutionInfo, 'raw'>; handle: WorkflowHandle }> {
    let info: Omit<WorkflowExecutionInfo, 'raw'>;
    try {
      info = await this.deps.client.workflow.getHandle(workflowId, runId).describe();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new RunNotFoundError(workflowId);
      throw err;
    }
    const jobId = info.typedSearchAttributes.get(SundialJobId);
    if (info.type !== JOB_WORKFLOW_TYPE || typeof jobId !== 'string' || jobId === '')
      throw new RunNotFoundError(workflowId);
    // Acted on by its run id: a workflow started under this id since the describe is not touched.
    return { info, handle: this.deps.client.workflow.getHandle(workflowId, info.runId) };
  }

  /** One run, with its result or error when it has finished. @throws RunNotFoundError */
  async get(workflowId: string, runId?: string): Promise<RunView> {
    const { info, handle } = await this.describeRun(workflowId, runId);
    const status = statusOf(info);
    if (status === 'succeeded') {
      const outcome = (await handle.result()) as RunOutcome;
      if (outcome.status === 'degraded')
        return this.view(info, {
          status: 'degraded',
          attempts: outcome.attempts,
          result: outcome.result,
          fallback: outcome.fallback,
        });
      return this.view(info, {
        attempts: outcome.attempts,
        result: outcome.status === 'succeeded' ? outcome.result : undefined,
      });
    }
    if (status === 'failed') {
      try {
        await handle.result();
      } catch (err) {
        if (err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure) {
          const outcome = err.cause.details?.[0] as RunOutcome | undefined;
          return this.view(info, {
            attempts: outcome?.attempts ?? null,
            error:
              outcome?.status === 'failed'
                ? outcome.error
                : { type: err.cause.type ?? 'Error', message: err.cause.message },
          });
        }
        if (err instanceof WorkflowFailedError)
          return this.view(info, {
            error: { type: err.cause?.name ?? 'Error', message: err.cause?.message ?? err.message },
          });
        throw err;
      }
    }
    return this.view(info);
  }

  /** Asks a job run to cancel. @throws RunNotFoundError */
  async cancel(workflowId: string, runId?: string): Promise<void> {
    const { handle } = await this.describeRun(workflowId, runId);
    try {
      await handle.cancel();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new RunNotFoundError(workflowId);
      throw err;
    }
  }

  /** Terminates a job run. @throws RunNotFoundError */
  async terminate(workflowId: string, reason: string, runId?: string): Promise<void> {
    const { handle } = await this.describeRun(workflowId, runId);
    try {
      await handle.terminate(reason);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new RunNotFoundError(workflowId);
      throw err;
    }
  }
}

/**
 * A listed execution, decoded. A memo this process cannot decode (encrypted with a codec key it
 * does not have, e.g. dropped in a rotation too early) costs that run its outcome summary, not
 * the whole page: one such run would otherwise stop every list and the metrics sweep at it.
 */
async function decodeExecution(
  client: Client,
  raw: temporal.api.workflow.v1.IWorkflowExecutionInfo,
): Promise<Omit<WorkflowExecutionInfo, 'raw'>> {
  try {
    return await executionInfoFromRaw(raw, client.options.loadedDataConverter, raw, client.options.namespace);
  } catch {
    return executionInfoFromRaw(
      { ...raw, memo: null },
      client.options.loadedDataConverter,
      raw,
      client.options.namespace,
    );
  }
}

/** A run's trigger record as the API shows it: the body's hash is the API's own business. */
function triggerView(t: TriggerInfo): Omit<TriggerInfo, 'requestHash'> {
  const { requestHash: _hash, ...shown } = t;
  return shown;
}
