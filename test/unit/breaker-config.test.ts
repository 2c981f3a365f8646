import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defineJob } from '../../src/jobs/define';
import { JobDefinitionError } from '../../src/jobs/errors';
import { planRun } from '../../src/jobs/plan';
import { JobRegistry } from '../../src/jobs/registry';
import { parseJobSpec } from '../../src/jobs/spec';

const job = (id: string, breaker: Record<string, unknown>) =>
  defineJob({
    id,
    schedule: { cron: '@hourly' },
    breaker: { key: 'orders-db', ...breaker } as { key: string },
    run: () => null,
  });

describe('one breaker configuration per key', () => {
  it('when two code jobs declare the same key with the same thresholds, then both are accepted', () => {
    const registry = JobRegistry.create([
      job('a', { failureThreshold: 3, openFor: '10s' }),
      job('b', { failureThreshold: 3, openFor: '10s' }),
    ]);
    assert.equal(registry.jobs.length, 2);
  });

  it('when two code jobs declare the same key with other thresholds, then the second is refused, naming both', () => {
    assert.throws(
      () =>
        JobRegistry.create([
          job('a', { failureThreshold: 3, openFor: '10s' }),
          job('b', { failureThreshold: 5, openFor: '10s' }),
        ]),
      (err: unknown) => {
        assert.ok(err instanceof JobDefinitionError);
        assert.match(err.message, /\bb\b.*breaker/);
        assert.match(err.message, /"a"/);
        return true;
      },
    );
  });

  it("when an API job declares a code job's key with other thresholds, then the registry names the conflict", () => {
    const registry = JobRegistry.create([job('a', { failureThreshold: 3, openFor: '10s' })]);
    const plan = (openFor: string) => {
      const parsed = parseJobSpec({
        id: 'api-job',
        schedule: { cron: '@hourly' },
        task: { type: 'http', url: 'https://example.com/' },
        breaker: { key: 'orders-db', failureThreshold: 3, openFor },
      });
      assert.ok(parsed.ok);
      return planRun(parsed.spec, () => undefined);
    };
    assert.equal(registry.breakerConflictFor(plan('10s')), undefined);
    const conflict = registry.breakerConflictFor(plan('1m'));
    assert.equal(conflict?.path, 'breaker');
    assert.match(conflict?.message ?? '', /job "a"/);
  });
});
