import type { NotificationFacts } from './plan';

/** The payload's version: a receiver can tell this shape from a later one. Bumped on a breaking change only. */
export const PAYLOAD_VERSION = 1;

/**
 * The JSON body of a webhook delivery (docs/notifications.md shows one). `webUrl` is the run in
 * Temporal's Web UI when the worker knows the UI's address, else null. Pure.
 */
export function webhookPayload(facts: NotificationFacts, webUrl: string | null) {
  return {
    version: PAYLOAD_VERSION,
    id: facts.key,
    event: facts.event,
    occurredAt: facts.occurredAt,
    job: { id: facts.jobId },
    run: {
      workflowId: facts.workflowId,
      runId: facts.runId,
      scheduledAt: facts.scheduledAt,
      startedAt: facts.startedAt,
      finishedAt: facts.finishedAt,
      durationMs: facts.durationMs,
    },
    status: facts.status,
    error: facts.error,
    attempts: facts.attempts,
    consecutiveFailures: facts.consecutiveFailures,
    webUrl,
  };
}

export type WebhookPayload = ReturnType<typeof webhookPayload>;

const HEADLINE: Record<string, string> = {
  failed: ':x: failed',
  degraded: ':warning: degraded (served its fallback)',
  recovered: ':white_check_mark: recovered',
};

/** Slack's mrkdwn needs &, < and > escaped in text that is not a link. */
function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function headline(facts: NotificationFacts): string {
  const fixed = HEADLINE[facts.event];
  if (fixed !== undefined) return fixed;
  if (facts.event.startsWith('consecutive_failures:'))
    return `:rotating_light: failed ${facts.event.slice('consecutive_failures:'.length)} runs in a row`;
  if (facts.event.startsWith('late:'))
    return `:hourglass: is late: not finished ${facts.event.slice('late:'.length)} after its scheduled time`;
  return facts.event;
}

/**
 * A Slack incoming-webhook message: one line a person reads in a notification, then the
 * details and a link to the run. `text` is the fallback shown where blocks are not. Pure.
 */
export function slackMessage(facts: NotificationFacts, webUrl: string | null) {
  const title = `*${escape(facts.jobId)}* ${headline(facts)}`;
  const lines = [
    `Run \`${escape(facts.workflowId)}\`, scheduled ${facts.scheduledAt}` +
      (facts.attempts === null ? '' : `, ${facts.attempts} attempt${facts.attempts === 1 ? '' : 's'}`),
    ...(facts.error === null
      ? []
      : [`Error: \`${escape(facts.error.type)}\`: ${escape(facts.error.message.slice(0, 500))}`]),
    ...(webUrl === null ? [] : [`<${webUrl}|Open the run in Temporal>`]),
  ];
  return {
    text: `${title}\n${lines.join('\n')}`,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: title } },
      { type: 'section', text: { type: 'mrkdwn', text: lines.join('\n') } },
    ],
  };
}
