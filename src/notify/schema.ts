import { z } from 'zod';
import { SECRET_NAME_PATTERN } from '../secrets/reference';
import { durationRangeProblem, MAX_TIMER_MS, parseDuration } from '../util/duration';
import type { NotifyEvent, NotifyPlan, NotifyTarget } from './plan';

/**
 * The `notify` field of a JobSpec (and SUNDIAL_NOTIFY_DEFAULTS): which events of a job's runs
 * are sent where. One schema is the TypeScript type, the validation and the OpenAPI document.
 */

/** The most `consecutive_failures:N` accepts. */
export const MAX_CONSECUTIVE_FAILURES = 1000;
/** The shortest `late:` (a timer shorter than a workflow task is noise). */
export const MIN_LATE_MS = 1000;

const EVENT_HELP =
  'must be "failed", "degraded", "recovered", "consecutive_failures:N" (N 1-1000) or "late:DURATION" (e.g. late:15m)';

/** Parses one event as written; a message naming what is wrong otherwise. */
export function parseNotifyEvent(text: string): NotifyEvent | string {
  if (text === 'failed' || text === 'degraded' || text === 'recovered') return { kind: text, name: text };
  const consecutive = /^consecutive_failures:(\d{1,7})$/.exec(text);
  if (consecutive !== null) {
    const count = Number(consecutive[1]);
    if (count < 1 || count > MAX_CONSECUTIVE_FAILURES)
      return `consecutive_failures needs N between 1 and ${MAX_CONSECUTIVE_FAILURES}`;
    return { kind: 'consecutive_failures', name: `consecutive_failures:${count}`, count };
  }
  const late = /^late:(.+)$/.exec(text);
  if (late !== null) {
    try {
      const afterMs = parseDuration(late[1]!);
      const problem = durationRangeProblem(afterMs, { minMs: MIN_LATE_MS, maxMs: MAX_TIMER_MS });
      if (problem !== undefined) return `late: the duration ${problem}`;
      return { kind: 'late', name: `late:${late[1]!.trim()}`, afterMs };
    } catch (err) {
      return `late: the duration ${(err as Error).message}`;
    }
  }
  return EVENT_HELP;
}

const eventSchema = z.string().superRefine((text, ctx) => {
  const parsed = parseNotifyEvent(text);
  if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: parsed });
});

const CREDENTIAL =
  'must be a secret reference { "secret": NAME }: the value is a credential, and Temporal, the logs and the API must never hold it';

/** A secret reference where a credential goes; a plain string is refused with a message that says why. */
const credentialSchema = z
  .object(
    {
      secret: z
        .string()
        .regex(
          SECRET_NAME_PATTERN,
          'must be a secret name: 1-128 upper-case letters, digits or "_", not starting with a digit',
        ),
    },
    { error: CREDENTIAL },
  )
  .strict();

export const webhookTargetSchema = z
  .object({
    type: z.literal('webhook'),
    url: z
      .url({ protocol: /^https?$/, message: 'must be an absolute http(s) URL' })
      .describe('Where the JSON payload is POSTed; checked by the egress policy like an HTTP task.'),
    secret: credentialSchema
      .optional()
      .describe(
        'Signing secret, as a secret reference. With it, every delivery carries webhook-signature (docs/notifications.md).',
      ),
  })
  .strict();

export const slackTargetSchema = z
  .object({
    type: z.literal('slack'),
    webhookUrl: credentialSchema.describe(
      'The Slack incoming-webhook URL, as a secret reference: the URL is the credential.',
    ),
  })
  .strict();

export const notifyTargetSchema = z.discriminatedUnion('type', [webhookTargetSchema, slackTargetSchema], {
  error: 'must be { type: "webhook", url, secret? } or { type: "slack", webhookUrl }',
});

export const notifyRuleSchema = z
  .object({
    on: z
      .array(eventSchema)
      .min(1, 'must name at least one event')
      .max(10)
      .describe(EVENT_HELP.replace(/^must be/, 'Events:')),
    to: notifyTargetSchema,
  })
  .strict();

/** A job's notification rules (at most 10). `[]` turns the defaults off for the job. */
export const notifySchema = z
  .array(notifyRuleSchema)
  .max(10, 'at most 10 rules')
  .describe(
    "Notifications of this job's runs (docs/notifications.md). Absent: SUNDIAL_NOTIFY_DEFAULTS apply; [] turns them off.",
  );

export type NotifyRuleInput = z.input<typeof notifyRuleSchema>;
export type NotifyRules = z.output<typeof notifySchema>;

/** Compiles validated rules; an empty plan is no plan. Pure. */
export function compileNotify(rules: NotifyRules | undefined): NotifyPlan | undefined {
  if (rules === undefined || rules.length === 0) return undefined;
  return {
    rules: rules.map((r) => ({
      on: r.on.map((text) => parseNotifyEvent(text) as NotifyEvent),
      to: r.to as NotifyTarget,
    })),
  };
}
