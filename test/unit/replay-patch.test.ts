import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Worker } from '@temporalio/worker';
import { createLogger } from '../../src/observability/logger';
import { installRuntime } from '../../src/temporal/runtime';
import { WORKFLOWS_PATH } from '../../src/worker/worker';
import { STATUS_SET_AT_START } from '../../src/workflows/job-workflow';
import { HISTORIES_DIR } from '../replay/histories-dir';
import { historyFromJson } from '../replay/history-json';

/** A recorded history, as the JSON the recorder saved. */
interface HistoryJson {
  events: Array<{
    eventType: string;
    markerRecordedEventAttributes?: {
      markerName?: string;
      details?: Record<string, { payloads?: Array<{ data?: string }> }>;
    };
    upsertWorkflowSearchAttributesEventAttributes?: {
      searchAttributes?: { indexedFields?: Record<string, { data?: string }> };
    };
  }>;
}

const load = (file: string): HistoryJson =>
  JSON.parse(readFileSync(path.join(HISTORIES_DIR, file), 'utf8')) as HistoryJson;
const decode = (data: string | undefined): unknown =>
  JSON.parse(Buffer.from(data ?? '', 'base64').toString() || 'null');
/** The SundialStatus values the run upserted, in order. */
const statusUpserts = (h: HistoryJson): unknown[] =>
  h.events.flatMap((e) => {
    const field = e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields?.SundialStatus;
    return field === undefined ? [] : [decode(field.data)];
  });
const patchMarkers = (h: HistoryJson) =>
  h.events.filter(
    (e) =>
      e.eventType === 'EVENT_TYPE_MARKER_RECORDED' &&
      e.markerRecordedEventAttributes?.markerName === 'core_patch' &&
      Object.values(e.markerRecordedEventAttributes.details ?? {}).some((d) =>
        (d.payloads ?? []).some((p) =>
          Buffer.from(p.data ?? '', 'base64')
            .toString()
            .includes(STATUS_SET_AT_START),
        ),
      ),
  ).length;

/**
 * The patched change of `STATUS_SET_AT_START`: a scheduled run used to upsert
 * SundialStatus=running first; it now starts with it and skips that command. A run recorded
 * before the change must replay through the old branch, one recorded after it through the new.
 */
describe(`the patch ${STATUS_SET_AT_START}`, () => {
  const before = '0.1.0.code-ok-scheduled.json';
  const after = '0.2.0-dev.code-ok-scheduled.json';

  it('when a scheduled run from before the patch is replayed, then it takes the old branch', () => {
    const h = load(before);
    assert.equal(patchMarkers(h), 0);
    assert.deepEqual(statusUpserts(h), ['running', 'succeeded']);
  });

  it('when a scheduled run from after the patch is recorded, then it has the marker and does not upsert running', () => {
    const h = load(after);
    assert.equal(patchMarkers(h), 1);
    assert.deepEqual(statusUpserts(h), ['succeeded']);
  });

  it('when both are replayed on the current code, then neither is nondeterministic', async () => {
    installRuntime(createLogger('error'));
    const histories = [before, after].map((f) => historyFromJson(readFileSync(path.join(HISTORIES_DIR, f), 'utf8')));
    const errors: string[] = [];
    for await (const r of Worker.runReplayHistories(
      { workflowsPath: WORKFLOWS_PATH, replayName: 'sundial-replay-patch' },
      histories,
    )) {
      if (r.error !== undefined) errors.push(`${r.workflowId}: ${r.error.message}`);
    }
    assert.deepEqual(errors, []);
  });
});
