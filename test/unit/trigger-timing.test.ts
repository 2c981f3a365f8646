import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TRIGGER_LEAD_MS, TRIGGER_MARGIN_MS, triggerDelayMs } from '../../src/schedules/trigger-timing';

const at = (iso: string) => new Date(iso);
const ms = (iso: string) => Date.parse(iso);

describe('triggerDelayMs', () => {
  it('when no action is near, then a trigger is sent at once', () => {
    assert.equal(
      triggerDelayMs(ms('2026-12-02T10:00:03.000Z'), [at('2026-12-02T10:00:00.000Z'), at('2026-12-02T10:00:05.000Z')]),
      0,
    );
    assert.equal(triggerDelayMs(ms('2026-12-02T10:00:03.000Z'), []), 0);
  });

  it('when an action ran in this second, then the trigger waits until that second is over, with the margin', () => {
    assert.equal(
      triggerDelayMs(ms('2026-12-02T10:00:00.300Z'), [at('2026-12-02T10:00:00.000Z')]),
      700 + TRIGGER_MARGIN_MS,
    );
    // A nominal time inside its second still names the whole second.
    assert.equal(
      triggerDelayMs(ms('2026-12-02T10:00:00.900Z'), [at('2026-12-02T10:00:00.500Z')]),
      100 + TRIGGER_MARGIN_MS,
    );
    // Just past the second, a schedule that handles the trigger late would still be in it.
    assert.equal(
      triggerDelayMs(ms('2026-12-02T10:00:01.100Z'), [at('2026-12-02T10:00:00.000Z')]),
      TRIGGER_MARGIN_MS - 100,
    );
  });

  it('when an action is due within the lead, then the trigger is sent after its second', () => {
    const now = ms('2026-12-02T10:00:04.700Z');
    assert.equal(triggerDelayMs(now, [at('2026-12-02T10:00:05.000Z')]), 1300 + TRIGGER_MARGIN_MS);
    assert.equal(
      triggerDelayMs(ms('2026-12-02T10:00:04.400Z'), [at('2026-12-02T10:00:05.000Z')]),
      0,
      `more than ${TRIGGER_LEAD_MS} ms ahead`,
    );
  });

  it('when two actions are near, then the later second decides, and the wait stays bounded', () => {
    const now = ms('2026-12-02T10:00:00.600Z');
    const wait = triggerDelayMs(now, [at('2026-12-02T10:00:00.000Z'), at('2026-12-02T10:00:01.000Z')]);
    assert.equal(wait, 1400 + TRIGGER_MARGIN_MS);
    assert.ok(wait <= 1000 + TRIGGER_LEAD_MS + TRIGGER_MARGIN_MS);
  });
});
