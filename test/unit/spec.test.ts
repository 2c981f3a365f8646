import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defineJob, type DefinedJob } from '../../src/jobs/define';
import { JobDefinitionError } from '../../src/jobs/errors';
import { JobRegistry } from '../../src/jobs/registry';
import { exampleJobs } from '../../src/jobs/examples';
import { calendarToCron, checkCron } from '../../src/jobs/cron';

const ok = (id: string, extra: Partial<Parameters<typeof defineJob>[0]> = {}): DefinedJob =>
  defineJob({ id, schedule: { cron: '*/5 * * * *' }, run: () => 'done', ...extra });

function problemsOf(jobs: DefinedJob[]): Array<{ jobId: string; path: string; message: string }> {
  try {
    JobRegistry.create(jobs);
  } catch (err) {
    assert.ok(err instanceof JobDefinitionError, `expected JobDefinitionError, got ${String(err)}`);
    return [...err.problems];
  }
  assert.fail('expected the registry to reject the definitions');
}

function assertOneProblem(job: DefinedJob, path: string, pattern: RegExp): void {
  const problems = problemsOf([job]);
  const hit = problems.find((p) => p.path === path);
  assert.ok(hit, `expected a problem at ${path}, got ${JSON.stringify(problems)}`);
  assert.equal(hit.jobId, job.spec.id);
  assert.match(hit.message, pattern);
}

describe('job definitions', () => {
  it('accepts a valid definition and fills in the documented defaults', () => {
    const registry = JobRegistry.create([ok('fine')]);
    const job = registry.get('fine');
    assert.ok(job);
    assert.equal(job.spec.policies.overlap, 'skip');
    assert.equal(job.spec.policies.catchupWindow, '1d');
    assert.equal(job.run.retry.maximumAttempts, 3);
    assert.equal(job.run.timeouts.startToCloseMs, 600_000);
  });

  it('rejects a malformed cron, naming the job and the field', () => {
    assertOneProblem(ok('bad-cron', { schedule: { cron: '61 * * * *' } }), 'schedule.cron', /minute.*not in range/);
    assertOneProblem(ok('bad-cron-2', { schedule: { cron: '* * *' } }), 'schedule.cron', /5 fields/);
    assertOneProblem(
      ok('bad-cron-3', { schedule: { cron: ['0 3 * * *', '0 3 L * *'] } }),
      'schedule.cron.1',
      /day-of-month/,
    );
  });

  it('rejects an unknown time zone', () => {
    assertOneProblem(
      ok('bad-tz', { schedule: { cron: '0 3 * * *', timezone: 'Mars/Olympus_Mons' } }),
      'schedule.timezone',
      /unknown IANA time zone/,
    );
  });

  it('rejects a CRON_TZ that conflicts with the schedule time zone', () => {
    assertOneProblem(
      ok('two-zones', { schedule: { cron: 'CRON_TZ=Asia/Tokyo 0 3 * * *', timezone: 'Europe/Paris' } }),
      'schedule.timezone',
      /conflicting time zones/,
    );
  });

  it('rejects an interval under one second', () => {
    assertOneProblem(
      ok('fast', { schedule: { intervals: [{ every: '500ms' }] } }),
      'schedule.intervals.0.every',
      /at least 1s/,
    );
  });

  it('rejects a backoff coefficient under 1', () => {
    assertOneProblem(ok('shrinking', { retry: { backoffCoefficient: 0.5 } }), 'retry.backoffCoefficient', /at least 1/);
  });

  it('rejects a maximum interval shorter than the initial interval', () => {
    assertOneProblem(
      ok('inverted', { retry: { initialInterval: '10s', maximumInterval: '5s' } }),
      'retry.maximumInterval',
      /initialInterval/,
    );
  });

  it('rejects negative attempts', () => {
    assertOneProblem(ok('negative', { retry: { maximumAttempts: -1 } }), 'retry.maximumAttempts', /negative/);
  });

  it('rejects duplicate ids', () => {
    const problems = problemsOf([ok('twice'), ok('twice')]);
    assert.deepEqual(
      problems.map((p) => [p.jobId, p.path]),
      [['twice', 'id']],
    );
  });

  it('rejects a catch-up window under the server minimum of 10s', () => {
    assertOneProblem(ok('short-catchup', { policies: { catchupWindow: '5s' } }), 'policies.catchupWindow', /10s/);
  });

  it('rejects a duration without a unit', () => {
    assertOneProblem(ok('unitless', { timeouts: { startToClose: '30' } }), 'timeouts.startToClose', /duration/);
  });

  it('rejects an HTTP job with a non-http URL or a body on GET', () => {
    assertOneProblem(
      defineJob({ id: 'ftp', schedule: { cron: '@hourly' }, http: { url: 'ftp://example.com/x' } }),
      'task.url',
      /http/,
    );
    assertOneProblem(
      defineJob({ id: 'get-body', schedule: { cron: '@hourly' }, http: { url: 'http://example.com/', body: 'x' } }),
      'task.body',
      /GET request cannot have a body/,
    );
  });

  it('rejects a fallback without a breaker, and a function fallback without fallbackRun', () => {
    assertOneProblem(ok('no-breaker', { fallback: { type: 'cache' } }), 'fallback', /breaker/);
    assertOneProblem(
      ok('no-fn', { breaker: { key: 'db' }, fallback: { type: 'function' } }),
      'fallback.type',
      /fallbackRun/,
    );
    assertOneProblem(
      ok('bad-probes', { breaker: { key: 'db', halfOpenProbes: 0 } }),
      'breaker.halfOpenProbes',
      />=1|at least|too small/i,
    );
    assertOneProblem(
      ok('bad-rate', { breaker: { key: 'db', failureRate: { threshold: 1.5, minimumCalls: 10, window: '1m' } } }),
      'breaker.failureRate.threshold',
      /.+/,
    );
  });

  it('reports every bad job in one error', () => {
    const problems = problemsOf([ok('a', { schedule: { cron: 'x' } }), ok('b', { retry: { maximumAttempts: -2 } })]);
    assert.deepEqual(new Set(problems.map((p) => p.jobId)), new Set(['a', 'b']));
  });
});

describe("execution: 'local'", () => {
  const http = { url: 'http://127.0.0.1:9/x' };
  it('plans a bounded attempt with no heartbeat, the declared retries and the local flag', () => {
    const registry = JobRegistry.create([
      ok('local-code', { execution: 'local', retry: { maximumAttempts: 5 } }),
      defineJob({ id: 'local-http', schedule: { cron: '@hourly' }, http, execution: 'local' }),
      ok('regular'),
    ]);
    const code = registry.get('local-code')!.run;
    assert.equal(code.execution, 'local');
    assert.equal(code.timeouts.startToCloseMs, 60_000);
    assert.equal(code.retry.maximumAttempts, 5);
    const httpRun = registry.get('local-http')!.run;
    assert.equal(httpRun.timeouts.heartbeatMs, undefined, 'the HTTP task does not get its default heartbeat timeout');
    assert.equal(httpRun.timeouts.startToCloseMs, 60_000);
    assert.equal(
      'execution' in registry.get('regular')!.run,
      false,
      'jobs without the option keep their run input (and hash)',
    );
  });
  it('refuses a heartbeat timeout, naming the field', () => {
    assertOneProblem(
      ok('beats', { execution: 'local', timeouts: { heartbeat: '5s' } }),
      'timeouts.heartbeat',
      /cannot heartbeat/,
    );
  });
  it('refuses an attempt longer than a minute, naming the field', () => {
    assertOneProblem(
      ok('long', { execution: 'local', timeouts: { startToClose: '2m' } }),
      'timeouts.startToClose',
      /at most 60s/,
    );
    assertOneProblem(
      defineJob({
        id: 'slow-http',
        schedule: { cron: '@hourly' },
        http: { ...http, timeout: '1m' },
        execution: 'local',
      }),
      'task.timeout',
      /at most 55s/,
    );
  });
  it('refuses a multi-step workflow job', () => {
    assertOneProblem(
      defineJob({ id: 'steps', schedule: { cron: '@hourly' }, workflow: 'httpSequenceWorkflow', execution: 'local' }),
      'execution',
      /child workflows/,
    );
  });
  it('refuses an unknown value', () => {
    assertOneProblem(ok('odd', { execution: 'remote' as 'local' }), 'execution', /./);
  });
});

describe('the shipped examples', () => {
  it('validate, and include a retrying job, a heartbeating job and an HTTP job', () => {
    const registry = JobRegistry.create(exampleJobs('http://127.0.0.1:8080'));
    const byId = new Map(registry.jobs.map((j) => [j.spec.id, j]));
    assert.equal(byId.get('example-backup')?.run.timeouts.heartbeatMs, 10_000);
    assert.equal(byId.get('example-flaky')?.run.retry.maximumAttempts, 5);
    assert.equal(byId.get('example-http-health')?.run.task.type, 'http');
  });
});

describe('cron grammar (as the Temporal server parses it)', () => {
  const valid = [
    '0 3 * * *',
    '*/15 9-17 * * mon-fri',
    '0 0 1 jan,jul *',
    '0 12 * * * 2030',
    '*/10 * * * * * *',
    '@daily',
    '@every 90m/5m',
    'CRON_TZ=Europe/Berlin 0 3 * * *',
    '0 3 * * 7 # sundays',
  ];
  for (const c of valid) it(`accepts ${JSON.stringify(c)}`, () => assert.equal(checkCron(c), undefined));
  const invalid: Array<[string, RegExp]> = [
    ['0 3 * *', /5 fields/],
    ['0 24 * * *', /hour/],
    ['0 0 0 * *', /day-of-month/],
    ['0 0 * 13 *', /month/],
    ['*/0 * * * *', /step/],
    ['0 0 * * 8', /day-of-week/],
    ['@fortnightly', /macro/],
    ['@every soon', /duration/],
    ['CRON_TZ=Nowhere/Land 0 3 * * *', /time zone/],
    ['5-1 * * * *', /minute/],
    ['0 0 ? * *', /day-of-month/],
  ];
  for (const [c, why] of invalid) it(`rejects ${JSON.stringify(c)}`, () => assert.match(checkCron(c) ?? '', why));
});

describe('calendar specs', () => {
  it('map to 7-field cron strings with Temporal calendar defaults', () => {
    assert.equal(calendarToCron({ hour: '3', dayOfWeek: 'mon-fri' }), '0 0 3 * * mon-fri *');
    assert.equal(
      calendarToCron({ second: '*/30', minute: '*', hour: '*', comment: 'half-minutely' }),
      '*/30 * * * * * * # half-minutely',
    );
  });

  it('reject a bad field by name', () => {
    assertOneProblem(ok('bad-cal', { schedule: { calendars: [{ hour: '25' }] } }), 'schedule.calendars.0.hour', /hour/);
  });
});
