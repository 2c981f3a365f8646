import type { EgressPolicy } from '../egress/policy';
import type { JobRegistry } from '../jobs/registry';
import type { Logger } from '../observability/logger';
import { referencedValues, scrubbingLogs, scrubError, scrubValue } from '../secrets/resolve';
import { makeBreakerActivities } from './breaker';
import { makeRunCodeTask, type CodeTaskInput } from './code-task';
import { makeRunHttpTask, type HttpTaskInput } from './http-task';
import { makeNotifyActivities } from './notify';
import type { NotificationMetrics } from '../observability/metrics';
import type { DeliveryPlan } from '../notify/plan';

export interface ActivityDeps {
  readonly registry: JobRegistry;
  readonly logger: Logger;
  /** Sent as User-Agent by the HTTP task; names the worker so a dependency can tell callers apart. */
  readonly userAgent: string;
  /** Where the HTTP task may connect. */
  readonly egress: EgressPolicy;
  /** Values of secret references, by name. @default none */
  readonly secrets?: ReadonlyMap<string, string>;
  /** Base URL of Temporal's Web UI, for links in notifications. @default none (the payload's webUrl is null) */
  readonly webUiUrl?: string;
  /** Where notification deliveries are counted. @default not counted */
  readonly notificationMetrics?: NotificationMetrics;
}

/**
 * A task whose result, failure and log lines are scrubbed of the secret values its input
 * references, so that a server echoing a header, or job code returning or logging an argument,
 * does not write the value into Temporal or the logs. An attempt without references runs as it is.
 */
function scrubbingSecrets<I, R>(
  secrets: ReadonlyMap<string, string>,
  referencing: (input: I) => unknown,
  run: (input: I) => Promise<R>,
): (input: I) => Promise<R> {
  return async (input) => {
    const values = secrets.size === 0 ? [] : referencedValues(referencing(input), secrets);
    if (values.length === 0) return run(input);
    try {
      return scrubValue(await scrubbingLogs(values, () => run(input)), values) as R;
    } catch (err) {
      throw scrubError(err, values);
    }
  };
}

/** All of Sundial's activities, built over their dependencies. */
export function createActivities(deps: ActivityDeps) {
  const secrets = deps.secrets ?? new Map<string, string>();
  return {
    runCodeTask: scrubbingSecrets(
      secrets,
      (i: CodeTaskInput) => i.args,
      makeRunCodeTask(deps.registry, deps.logger, secrets),
    ),
    runHttpTask: scrubbingSecrets(
      secrets,
      (i: HttpTaskInput) => i.request.headers,
      makeRunHttpTask(deps.logger, deps.userAgent, deps.egress, secrets),
    ),
    ...makeBreakerActivities(),
    ...withScrubbedDelivery(
      secrets,
      makeNotifyActivities({
        logger: deps.logger,
        userAgent: deps.userAgent,
        egress: deps.egress,
        secrets,
        ...(deps.webUiUrl === undefined ? {} : { webUiUrl: deps.webUiUrl }),
        ...(deps.notificationMetrics === undefined ? {} : { metrics: deps.notificationMetrics }),
      }),
    ),
  };
}

/** The delivery activity with its target's secret values (a Slack URL, a signing secret) scrubbed from what it reports. */
function withScrubbedDelivery<T extends { deliverNotification: (plan: DeliveryPlan) => Promise<unknown> }>(
  secrets: ReadonlyMap<string, string>,
  acts: T,
): T {
  return {
    ...acts,
    deliverNotification: scrubbingSecrets(secrets, (p: DeliveryPlan) => p.to, acts.deliverNotification),
  } as T;
}
