import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseJobSpec, type JobSpec } from '../../src/jobs/spec';
import { dstWarnings } from '../../src/schedules/dst';
import { offsetTransitions } from '../../src/util/time-zone';

const spec = (schedule: unknown): JobSpec => {
  const r = parseJobSpec({ id: 'j', schedule, task: { type: 'http', url: 'http://x.test/' } });
  assert.ok(r.ok);
  return r.spec;
};
const NEW_YEAR_2027 = new Date('2027-01-01T00:00:00Z');

describe('daylight-saving warnings', () => {
  it("finds Berlin's transitions in 2027 to the minute", () => {
    const t = offsetTransitions('Europe/Berlin', NEW_YEAR_2027);
    assert.deepEqual(
      t.map((x) => [x.at.toISOString(), x.fromOffset, x.toOffset]),
      [
        ['2027-03-28T01:00:00.000Z', 60, 120],
        ['2027-10-31T01:00:00.000Z', 120, 60],
      ],
    );
  });

  it('warns for a daily 02:30 in Berlin: skipped in March, twice in October', () => {
    const w = dstWarnings(spec({ cron: '30 2 * * *', timezone: 'Europe/Berlin' }), NEW_YEAR_2027);
    assert.equal(w.length, 2);
    assert.match(w[0]!, /02:30 does not exist in Europe\/Berlin on 2027-03-28/);
    assert.match(w[1]!, /02:30 happens twice in Europe\/Berlin on 2027-10-31/);
  });

  it('does not warn for times clear of the transition, for UTC, or for intervals', () => {
    assert.deepEqual(dstWarnings(spec({ cron: '0 4 * * *', timezone: 'Europe/Berlin' }), NEW_YEAR_2027), []);
    assert.deepEqual(dstWarnings(spec({ cron: '30 2 * * *' }), NEW_YEAR_2027), []);
    assert.deepEqual(dstWarnings(spec({ intervals: [{ every: '1h' }], timezone: 'Europe/Berlin' }), NEW_YEAR_2027), []);
  });

  it('honours day fields and calendars, and CRON_TZ', () => {
    assert.deepEqual(
      dstWarnings(spec({ cron: '30 2 * * mon', timezone: 'Europe/Berlin' }), NEW_YEAR_2027),
      [],
      '2027-03-28 and 2027-10-31 are Sundays',
    );
    assert.equal(
      dstWarnings(
        spec({ calendars: [{ hour: '2', minute: '15', dayOfWeek: 'sun' }], timezone: 'Europe/Berlin' }),
        NEW_YEAR_2027,
      ).length,
      2,
    );
    assert.equal(
      dstWarnings(spec({ cron: 'CRON_TZ=America/New_York 30 2 * * *' }), NEW_YEAR_2027).length,
      1,
      'only the spring gap: New York repeats 01:00-02:00',
    );
  });
});
