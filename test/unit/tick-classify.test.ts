import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_PAUSE_RECORDS, recordPauseChange } from '../../src/schedules/mapping';
import { classifyTicks, type LedgerRun, type TickFacts } from '../../src/ticks/classify';

const T0 = Date.parse('2026-06-01T12:00:00Z');
const at = (s: number) => new Date(T0 + s * 1000);
const iso = (s: number) => at(s).toISOString();

function run(
  tick: number,
  startedAfter: number,
  closedAfter: number | null,
  status: LedgerRun['status'] = 'succeeded',
): LedgerRun {
  const id = `job-${iso(tick).replace('.000Z', 'Z')}`;
  return {
    workflowId: id,
    runId: `run-${tick}`,
    status: closedAfter === null ? 'running' : status,
    webUrl: `http://ui/${id}`,
    scheduledAt: at(tick),
    startedAt: at(tick + startedAfter),
    closedAt: closedAfter === null ? null : at(tick + closedAfter),
  };
}

const facts = (over: Partial<TickFacts>): TickFacts => ({
  ticks: [],
  now: at(1000),
  createdAt: at(-1000),
  overlap: 'skip',
  catchupWindowMs: 60_000,
  jitterMs: 0,
  pausedNow: false,
  note: null,
  pauses: [],
  runs: [],
  lastActionAt: undefined,
  startGraceMs: 60_000,
  jobId: 'job',
  startedIds: [],
  ...over,
});

describe('classifyTicks', () => {
  it('when a tick has its run, then it ran (with its lag) or is running', () => {
    const [a, b] = classifyTicks(facts({ ticks: [at(0), at(10)], runs: [run(0, 2, 5), run(10, 1, null)] }));
    assert.equal(a!.state, 'ran');
    assert.equal(a!.state === 'ran' && a!.lagMs, 2_000);
    assert.equal(b!.state, 'running');
  });

  it('when another run is open at a tick under skip, then it was skipped, naming that run', () => {
    const [, skipped] = classifyTicks(facts({ ticks: [at(0), at(10)], runs: [run(0, 0, 15)] }));
    assert.equal(skipped!.state, 'skipped_overlap');
    assert.equal(skipped!.state === 'skipped_overlap' && skipped!.blockedBy.runId, 'run-0');
  });

  it('when the policy is allow_all, then a tick without a run and nothing paused is missed, not skipped', () => {
    const [, missed] = classifyTicks(facts({ overlap: 'allow_all', ticks: [at(0), at(10)], runs: [run(0, 0, 15)] }));
    assert.equal(missed!.state, 'missed_catchup');
    assert.match(missed!.reason, /catch-up window \(1m\)/);
    const old = classifyTicks(facts({ overlap: 'allow_all', retentionMs: 100_000, ticks: [at(0)] }));
    assert.equal(old[0]!.state, 'missed_catchup');
    assert.match(old[0]!.reason, /older than the namespace's retention/);
  });

  it('when a tick falls in a recorded pause, then it is paused; before creation, before_created; in the future, not_yet', () => {
    const ticks = classifyTicks(
      facts({
        createdAt: at(-5),
        ticks: [at(-10), at(0), at(20), at(2000)],
        pauses: [{ from: iso(-1), to: iso(30), note: 'maintenance' }],
      }),
    );
    assert.deepEqual(
      ticks.map((t) => t.state),
      ['before_created', 'paused', 'paused', 'not_yet'],
    );
    assert.match(ticks[1]!.reason, /maintenance/);
    // Temporal applies an unpause a moment after the request that recorded it.
    const settling = classifyTicks(
      facts({ overlap: 'allow_all', ticks: [at(31), at(33)], pauses: [{ from: iso(-1), to: iso(30) }] }),
    );
    assert.deepEqual(
      settling.map((t) => t.state),
      ['paused', 'missed_catchup'],
    );
  });

  it('when the job is paused now without a record, then ticks after its last action are paused, said to be inferred', () => {
    const ticks = classifyTicks(
      facts({
        pausedNow: true,
        note: 'paused by CLI',
        ticks: [at(0), at(10), at(20)],
        runs: [run(0, 0, 1)],
        lastActionAt: at(0),
      }),
    );
    assert.deepEqual(
      ticks.map((t) => t.state),
      ['ran', 'paused', 'paused'],
    );
    assert.match(ticks[1]!.reason, /outside Sundial's API/);
  });

  it('when a tick is moments old without a run, then it is still starting, unless a later tick has acted', () => {
    const alone = classifyTicks(facts({ overlap: 'allow_all', now: at(20), ticks: [at(10)] }));
    assert.equal(alone[0]!.state, 'not_yet');
    const passed = classifyTicks(
      facts({ overlap: 'allow_all', now: at(20), ticks: [at(10), at(15)], runs: [run(15, 0, 1)] }),
    );
    assert.equal(passed[0]!.state, 'missed_catchup');
    const unlisted = classifyTicks(
      facts({
        overlap: 'allow_all',
        now: at(20),
        ticks: [at(10), at(15)],
        runs: [run(15, 0, 1)],
        startedIds: [run(10, 0, 1).workflowId],
      }),
    );
    assert.equal(unlisted[0]!.state, 'not_yet', 'started according to the schedule, not listed yet');
  });

  it('when buffer_one holds a tick behind a run that still runs, then it is not_yet; once that run is over, it was dropped', () => {
    const buffered = classifyTicks(facts({ overlap: 'buffer_one', ticks: [at(0), at(10)], runs: [run(0, 0, null)] }));
    assert.equal(buffered[1]!.state, 'not_yet');
    const dropped = classifyTicks(
      facts({ overlap: 'buffer_one', ticks: [at(0), at(10), at(12)], runs: [run(0, 0, 30), run(10, 20, 40)] }),
    );
    assert.deepEqual(
      dropped.map((t) => t.state),
      ['ran', 'ran', 'skipped_overlap'],
    );
  });
});

describe('recordPauseChange', () => {
  it('opens a period on pause, closes it on unpause, ignores repeats, keeps the newest few', () => {
    let p = recordPauseChange(undefined, true, at(0), 'n');
    p = recordPauseChange(p, true, at(5));
    assert.deepEqual(p, [{ from: iso(0), note: 'n' }]);
    p = recordPauseChange(p, false, at(10));
    p = recordPauseChange(p, false, at(11));
    assert.deepEqual(p, [{ from: iso(0), to: iso(10), note: 'n' }]);
    for (let i = 0; i < 2 * MAX_PAUSE_RECORDS; i++)
      p = recordPauseChange(recordPauseChange(p, true, at(100 + 2 * i)), false, at(101 + 2 * i));
    assert.equal(p.length, MAX_PAUSE_RECORDS);
    assert.equal(p[p.length - 1]!.to, iso(101 + 2 * (2 * MAX_PAUSE_RECORDS - 1)));
  });
});
