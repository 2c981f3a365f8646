import { Context } from '@temporalio/activity';
import { WithStartWorkflowOperation } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { EgressDeniedError, sendGuarded } from '../egress/http-client';
import type { EgressPolicy } from '../egress/policy';
import { recordRunUpdate } from '../notify/contract';
import { slackMessage, webhookPayload } from '../notify/payload';
import {
  NOTIFY_STATE_WORKFLOW_TYPE,
  notifyStateWorkflowId,
  type DeliveryPlan,
  type RecordRunRequest,
  type RecordRunResponse,
} from '../notify/plan';
import { signatureHeaders } from '../notify/signing';
import type { Logger } from '../observability/logger';
import type { NotificationMetrics } from '../observability/metrics';
import { SecretInvalidError, SecretMissingError } from '../secrets/resolve';
import { HttpErrorType } from './http-task';

/** Per attempt, for the whole response. */
const DELIVERY_TIMEOUT_MS = 10_000;
const HEARTBEAT_EVERY_MS = 1_000;
/** A receiver's answer is not kept; a little of it goes into an error message. */
const MAX_ANSWER_BYTES = 1024;

export interface NotifyActivityDeps {
  readonly logger: Logger;
  readonly userAgent: string;
  readonly egress: EgressPolicy;
  readonly secrets: ReadonlyMap<string, string>;
  /** Base URL of Temporal's Web UI, for the payload's `webUrl`; undefined: null. */
  readonly webUiUrl?: string;
  readonly metrics?: NotificationMetrics;
}

export interface DeliveryResult {
  /** The receiver's HTTP status. */
  readonly status: number;
  /** Which attempt delivered it. */
  readonly attempt: number;
}

function secretValue(secrets: ReadonlyMap<string, string>, name: string): string {
  const value = secrets.get(name);
  if (value === undefined) throw new SecretMissingError(name);
  return value;
}

/** Where the delivery goes and what it sends; secret values resolved here, in the attempt. */
function request(
  plan: DeliveryPlan,
  secrets: ReadonlyMap<string, string>,
  webUrl: string | null,
  now: Date,
): { url: string; body: string; headers: Record<string, string> } {
  const { facts, to } = plan;
  if (to.type === 'slack') {
    const url = secretValue(secrets, to.webhookUrl.secret);
    if (!/^https?:\/\//i.test(url))
      throw new SecretInvalidError(
        to.webhookUrl.secret,
        'is not an http(s) URL (a Slack incoming-webhook URL is expected)',
      );
    return { url, body: JSON.stringify(slackMessage(facts, webUrl)), headers: {} };
  }
  const body = JSON.stringify(webhookPayload(facts, webUrl));
  const signed =
    to.secret === undefined
      ? {}
      : signatureHeaders(secretValue(secrets, to.secret.secret), facts.key, Math.floor(now.getTime() / 1000), body);
  return { url: to.url, body, headers: { 'webhook-id': facts.key, ...signed } };
}

/** A receiver's status as the delivery's outcome: undefined for success, else the failure to throw. */
function statusFailure(status: number, answer: string): ApplicationFailure | undefined {
  if (status >= 200 && status < 300) return undefined;
  const message = `the receiver answered ${status}${answer === '' ? '' : `: ${answer.slice(0, 200)}`}`;
  if (status >= 500) return ApplicationFailure.create({ type: HttpErrorType.ServerError, message });
  if (status === 408) return ApplicationFailure.create({ type: HttpErrorType.Timeout, message });
  if (status === 429) return ApplicationFailure.create({ type: HttpErrorType.RateLimited, message });
  // A 4xx or a redirect will be the same answer next time.
  return ApplicationFailure.create({
    type: status >= 400 ? HttpErrorType.ClientError : HttpErrorType.UnexpectedStatus,
    message,
    nonRetryable: true,
  });
}

/**
 * The notification activities: recording a finished run in the job's notification entity, and
 * delivering one notification (a webhook or a Slack message) under the HTTP task's egress policy.
 */
export function makeNotifyActivities(deps: NotifyActivityDeps) {
  return {
    /**
     * Records a finished run in its job's notification entity (started on first use). The update
     * id is the run's, so a retried call is applied once.
     */
    async notifyRecordRun(req: RecordRunRequest): Promise<RecordRunResponse> {
      const ctx = Context.current();
      return ctx.client.workflow.executeUpdateWithStart(recordRunUpdate, {
        args: [req],
        updateId: `record/${req.runId}`,
        startWorkflowOperation: new WithStartWorkflowOperation(NOTIFY_STATE_WORKFLOW_TYPE, {
          workflowId: notifyStateWorkflowId(req.jobId),
          taskQueue: ctx.info.taskQueue,
          workflowIdConflictPolicy: 'USE_EXISTING',
          args: [{ jobId: req.jobId }],
        }),
      });
    },

    /** One attempt at one delivery. Retryable failures are retried by the notification workflow's policy. */
    async deliverNotification(plan: DeliveryPlan): Promise<DeliveryResult> {
      const ctx = Context.current();
      const attempt = ctx.info.attempt;
      const { facts } = plan;
      const labels = { job: facts.jobId, event: facts.event, target: plan.to.type };
      const log = deps.logger.child({
        task_name: facts.jobId,
        workflow_id: facts.workflowId,
        run_id: facts.runId,
        event: facts.event,
        target: plan.to.type,
        attempt,
      });
      const ns = encodeURIComponent(ctx.info.workflowNamespace ?? ctx.info.namespace);
      const webUrl =
        deps.webUiUrl === undefined
          ? null
          : `${deps.webUiUrl}/namespaces/${ns}/workflows/${encodeURIComponent(facts.workflowId)}/${encodeURIComponent(facts.runId)}/history`;
      ctx.heartbeat();
      const beat = setInterval(() => ctx.heartbeat(), HEARTBEAT_EVERY_MS);
      const timeout = AbortSignal.timeout(DELIVERY_TIMEOUT_MS);
      try {
        const { url, body, headers } = request(plan, deps.secrets, webUrl, new Date());
        let res;
        try {
          res = await sendGuarded(deps.egress, {
            url,
            method: 'POST',
            defaultHeaders: { 'user-agent': deps.userAgent },
            headers: {
              'content-type': 'application/json',
              'idempotency-key': facts.key,
              'sundial-event': facts.event,
              'sundial-job-id': facts.jobId,
              ...headers,
            },
            body,
            signal: AbortSignal.any([ctx.cancellationSignal, timeout]),
            maxBodyBytes: MAX_ANSWER_BYTES,
            maxRedirects: 0,
          });
        } catch (err) {
          if (ctx.cancellationSignal.aborted) throw err;
          if (err instanceof EgressDeniedError)
            throw ApplicationFailure.create({
              type: HttpErrorType.EgressDenied,
              message: `refused by the egress policy: ${err.message}`,
              nonRetryable: true,
            });
          if (timeout.aborted)
            throw ApplicationFailure.create({
              type: HttpErrorType.Timeout,
              message: `no answer within ${DELIVERY_TIMEOUT_MS} ms`,
            });
          // Node's message names the address, never the path (a Slack URL's path is its token).
          throw ApplicationFailure.create({
            type: HttpErrorType.NetworkError,
            message: `the delivery failed: ${(err as Error).message}`,
          });
        }
        const failure = statusFailure(res.status, res.body.toString('utf8'));
        if (failure !== undefined) throw failure;
        deps.metrics?.deliveries.inc({ ...labels, outcome: 'delivered' });
        log.info({ http_status: res.status }, 'notification delivered');
        return { status: res.status, attempt };
      } catch (err) {
        const failure =
          err instanceof SecretMissingError || err instanceof SecretInvalidError
            ? ApplicationFailure.create({ type: err.name, message: err.message, nonRetryable: true })
            : err;
        const final = failure instanceof ApplicationFailure && failure.nonRetryable;
        deps.metrics?.deliveries.inc({ ...labels, outcome: final ? 'failed' : 'retrying' });
        log.warn(
          {
            error_type: (failure as ApplicationFailure).type ?? (failure as Error).name,
            error_msg: (failure as Error).message,
          },
          final ? 'notification not delivered' : 'notification attempt failed; retrying',
        );
        throw failure;
      } finally {
        clearInterval(beat);
      }
    },
  };
}
