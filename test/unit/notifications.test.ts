import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/env';
import { planRun } from '../../src/jobs/plan';
import { parseJobSpec } from '../../src/jobs/spec';
import { slackMessage, webhookPayload } from '../../src/notify/payload';
import {
  finishedRunEvents,
  INITIAL_NOTIFY_STATE,
  nextNotifyState,
  type NotificationFacts,
  type NotifyPlan,
  type NotifyState,
} from '../../src/notify/plan';
import { compileNotify, parseNotifyEvent } from '../../src/notify/schema';
import { sign, signatureHeaders, verify } from '../../src/notify/signing';

const facts: NotificationFacts = {
  key: '0f1e-run:failed:0',
  event: 'failed',
  jobId: 'nightly-report',
  workflowId: 'nightly-report-2026-12-02T03:00:00Z',
  runId: '0f1e-run',
  status: 'failed',
  scheduledAt: '2026-12-02T03:00:00.000Z',
  startedAt: '2026-12-02T03:00:00.105Z',
  finishedAt: '2026-12-02T03:00:04.312Z',
  durationMs: 4207,
  attempts: 3,
  error: { type: 'HttpServerError', message: 'POST answered 503: <html>down</html>' },
  consecutiveFailures: 1,
  occurredAt: '2026-12-02T03:00:04.312Z',
};

describe('webhook signatures', () => {
  it("when signed, then HMAC-SHA256 of id.timestamp.body with the secret's UTF-8 bytes, base64, prefixed v1", () => {
    const mac = createHmac('sha256', Buffer.from('plain secret', 'utf8'))
      .update('id-1.1700000000.{"a":1}')
      .digest('base64');
    assert.equal(sign('plain secret', 'id-1', 1_700_000_000, '{"a":1}'), `v1,${mac}`);
  });

  it('when the secret is whsec_<base64>, then the key is the decoded bytes (Standard Webhooks)', () => {
    const key = Buffer.from('0123456789abcdef0123456789abcdef');
    const mac = createHmac('sha256', key).update('id-1.1700000000.body').digest('base64');
    assert.equal(sign(`whsec_${key.toString('base64')}`, 'id-1', 1_700_000_000, 'body'), `v1,${mac}`);
  });

  it('when verified, then a good signature within the window passes; a changed body, another secret or an old timestamp fails', () => {
    const h = signatureHeaders('s3cret', 'k1', 1_700_000_000, 'body');
    assert.equal(verify('s3cret', h, 'body', 1_700_000_100), true);
    assert.equal(verify('s3cret', h, 'body!', 1_700_000_100), false);
    assert.equal(verify('other', h, 'body', 1_700_000_100), false);
    assert.equal(verify('s3cret', h, 'body', 1_700_000_000 + 301), false);
    assert.equal(
      verify('s3cret', { ...h, 'webhook-signature': `v1,bad ${h['webhook-signature']!}` }, 'body', 1_700_000_000),
      true,
      'one of several signatures (a key rotation)',
    );
  });
});

describe('notification payloads', () => {
  it('when a webhook payload is built, then it is versioned and names job, run, status, error, attempts and webUrl', () => {
    const p = webhookPayload(facts, 'http://ui/namespaces/default/workflows/x/y/history');
    assert.deepEqual(Object.keys(p), [
      'version',
      'id',
      'event',
      'occurredAt',
      'job',
      'run',
      'status',
      'error',
      'attempts',
      'consecutiveFailures',
      'webUrl',
    ]);
    assert.equal(p.version, 1);
    assert.equal(p.id, facts.key);
    assert.deepEqual(p.job, { id: 'nightly-report' });
    assert.equal(p.run.workflowId, facts.workflowId);
    assert.deepEqual(p.error, facts.error);
  });

  it('when a Slack message is built, then its text reads as a sentence, escapes the error and links the run', () => {
    const m = slackMessage(facts, 'http://ui/run');
    assert.match(m.text, /^\*nightly-report\* :x: failed\n/);
    assert.match(m.text, /3 attempts/);
    assert.match(m.text, /&lt;html&gt;down&lt;\/html&gt;/);
    assert.match(m.text, /<http:\/\/ui\/run\|Open the run in Temporal>/);
    assert.equal(
      slackMessage({ ...facts, event: 'consecutive_failures:3' }, null).text.split('\n')[0],
      '*nightly-report* :rotating_light: failed 3 runs in a row',
    );
    assert.doesNotMatch(slackMessage(facts, null).text, /Open the run/);
  });
});

describe('notification events', () => {
  const plan = compileNotify([
    {
      on: ['failed', 'recovered', 'consecutive_failures:2', 'degraded'],
      to: { type: 'webhook', url: 'https://example.com/h' },
    },
  ])!;
  const runs = (statuses: Array<'succeeded' | 'failed' | 'degraded'>, p: NotifyPlan = plan): string[][] => {
    let state: NotifyState = INITIAL_NOTIFY_STATE;
    return statuses.map((s) => {
      const after = nextNotifyState(state, s);
      const fired = finishedRunEvents(p, s, state, after).map((e) => e.name);
      state = after;
      return fired;
    });
  };

  it('when runs fail, fail, fail, succeed, succeed, then failed each time, consecutive_failures:2 once at the second, recovered once', () => {
    assert.deepEqual(runs(['failed', 'failed', 'failed', 'succeeded', 'succeeded']), [
      ['failed'],
      ['failed', 'consecutive_failures:2'],
      ['failed'],
      ['recovered'],
      [],
    ]);
  });

  it('when the first run ever succeeds, then nothing fires (recovered needs a failure first)', () => {
    assert.deepEqual(runs(['succeeded']), [[]]);
  });

  it('when a degraded run comes between failures, then it fires degraded, keeps the streak, and a success after it is recovered', () => {
    assert.deepEqual(runs(['failed', 'degraded', 'failed', 'succeeded']), [
      ['failed'],
      ['degraded'],
      ['failed', 'consecutive_failures:2'],
      ['recovered'],
    ]);
  });

  it('when the state could not be read, then failed still fires and the stateful events do not', () => {
    assert.deepEqual(
      finishedRunEvents(plan, 'failed', undefined, undefined).map((e) => e.name),
      ['failed'],
    );
    assert.deepEqual(finishedRunEvents(plan, 'succeeded', undefined, undefined), []);
  });

  it('when two rules name the same event, then it fires once', () => {
    const two = compileNotify([
      { on: ['failed'], to: { type: 'webhook', url: 'https://a.example/h' } },
      { on: ['failed'], to: { type: 'slack', webhookUrl: { secret: 'SLACK' } } },
    ])!;
    assert.deepEqual(runs(['failed'], two), [['failed']]);
  });

  it('when events are parsed, then parameters are checked and names normalized', () => {
    assert.deepEqual(parseNotifyEvent('consecutive_failures:03'), {
      kind: 'consecutive_failures',
      name: 'consecutive_failures:3',
      count: 3,
    });
    assert.deepEqual(parseNotifyEvent('late:15m'), { kind: 'late', name: 'late:15m', afterMs: 900_000 });
    for (const bad of [
      'consecutive_failures:0',
      'consecutive_failures:1001',
      'late:500ms',
      'late:soon',
      'late:',
      'Failed',
      'succeeded',
    ]) {
      assert.equal(typeof parseNotifyEvent(bad), 'string', bad);
    }
  });
});

describe('notify in the spec and the defaults', () => {
  const spec = (notify?: unknown) => {
    const parsed = parseJobSpec({
      id: 'j',
      schedule: { cron: '@daily' },
      task: { type: 'http', url: 'https://example.com' },
      ...(notify === undefined ? {} : { notify }),
    });
    assert.ok(parsed.ok, JSON.stringify(parsed));
    return parsed.spec;
  };
  const defaults = [{ on: ['failed'], to: { type: 'slack' as const, webhookUrl: { secret: 'SLACK' } } }];

  it('when a job has no notify, then the defaults are compiled into its runs; its own rules replace them; [] turns them off', () => {
    assert.deepEqual(
      planRun(spec(), () => undefined, defaults).notify?.rules.map((r) => r.to.type),
      ['slack'],
    );
    assert.deepEqual(
      planRun(
        spec([{ on: ['failed'], to: { type: 'webhook', url: 'https://example.com/h' } }]),
        () => undefined,
        defaults,
      ).notify?.rules.map((r) => r.to.type),
      ['webhook'],
    );
    assert.equal(planRun(spec([]), () => undefined, defaults).notify, undefined);
    assert.equal(
      'notify' in planRun(spec(), () => undefined),
      false,
      'a job that notifies nobody keeps its run input (and hash)',
    );
  });

  it('when SUNDIAL_NOTIFY_DEFAULTS is valid, then it is parsed; when not, the error names the variable and the field, never the value', () => {
    assert.deepEqual(loadConfig({ SUNDIAL_NOTIFY_DEFAULTS: JSON.stringify(defaults) }).notifyDefaults, defaults);
    assert.equal(loadConfig({}).notifyDefaults, undefined);
    assert.throws(
      () =>
        loadConfig({
          SUNDIAL_NOTIFY_DEFAULTS:
            '[{"on":["failed"],"to":{"type":"slack","webhookUrl":"https://hooks.slack.com/services/SECRET"}}]',
        }),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.variable === 'SUNDIAL_NOTIFY_DEFAULTS' &&
        err.message.includes('0.to.webhookUrl') &&
        !err.message.includes('SECRET'),
    );
    assert.throws(
      () => loadConfig({ SUNDIAL_NOTIFY_DEFAULTS: 'not json' }),
      (err: unknown) => err instanceof ConfigError && err.variable === 'SUNDIAL_NOTIFY_DEFAULTS',
    );
  });
});
