import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Worker } from '@temporalio/worker';
import { createLogger } from '../../src/observability/logger';
import { installRuntime } from '../../src/temporal/runtime';
import { WORKFLOWS_PATH } from '../../src/worker/worker';
import { HISTORIES_DIR } from '../replay/histories-dir';
import { historyFromJson } from '../replay/history-json';

/**
 * Every history recorded from an earlier release (test/replay/record.ts) must replay on the
 * current workflow code: a run in flight during a deploy is finished by the new code, which
 * must issue the same commands. docs/ARCHITECTURE.md says how to change workflow code safely.
 */
describe('workflow code replays the recorded histories of earlier releases', () => {
  const files = readdirSync(HISTORIES_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort();

  it('has histories of every kind of run to replay', () => {
    for (const kind of [
      'code-ok-scheduled',
      'code-failed',
      'code-cancelled',
      'http-retried',
      'sequence',
      'sequence-child',
      'breaker-cache-degraded',
      'breaker-function-degraded',
      'breaker-entity-before-continue',
      'breaker-entity-after-continue',
      'breaker-retried',
      'audit-entity-before-continue',
      'audit-entity-after-continue',
      'audit-entity-ended',
      'notify-run-failed',
      'notify-delivery',
      'notify-state',
      'notify-late',
    ]) {
      assert.ok(
        files.some((f) => f.endsWith(`.${kind}.json`)),
        `no recorded history of ${kind}`,
      );
    }
  });

  it('when the recorded histories are replayed, then none is nondeterministic', async () => {
    installRuntime(createLogger('error'));
    const histories = files.map((f) => historyFromJson(readFileSync(path.join(HISTORIES_DIR, f), 'utf8')));
    const failures: string[] = [];
    let replayed = 0;
    for await (const result of Worker.runReplayHistories(
      { workflowsPath: WORKFLOWS_PATH, replayName: 'sundial-replay' },
      histories,
    )) {
      replayed++;
      if (result.error !== undefined) failures.push(`${result.workflowId}: ${result.error.message}`);
    }
    assert.equal(replayed, files.length);
    assert.deepEqual(failures, []);
  });
});
