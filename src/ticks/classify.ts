import type { OverlapPolicy } from '../jobs/spec';
import type { RunStatus } from '../runs/run-store';
import type { PauseRecord } from '../schedules/mapping';
import { formatDuration } from '../util/duration';

/** What became of a tick: one state per answer to "why didn't it run?". */
export const TickState = {
  ran: 'ran',
  running: 'running',
  skipped_overlap: 'skipped_overlap',
  missed_catchup: 'missed_catchup',
  paused: 'paused',
  before_created: 'before_created',
  not_yet: 'not_yet',
} as const;
export type TickState = (typeof TickState)[keyof typeof TickState];

/** The run a tick started, or the one in its way. */
export interface TickRunRef {
  readonly workflowId: string;
  readonly runId: string;
  readonly status: RunStatus;
  readonly webUrl: string;
}

/** One tick of the ledger; each state carries only its own data. */
export type Tick =
  | {
      readonly at: string;
      readonly state: 'ran' | 'running';
      readonly reason: string;
      readonly run: TickRunRef;
      readonly lagMs: number;
    }
  | { readonly at: string; readonly state: 'skipped_overlap'; readonly reason: string; readonly blockedBy: TickRunRef }
  | {
      readonly at: string;
      readonly state: 'missed_catchup' | 'paused' | 'before_created' | 'not_yet';
      readonly reason: string;
    };

/** A run of the job as the ledger needs it: only runs the schedule started (`<jobId>-<time>`). */
export interface LedgerRun extends TickRunRef {
  /** The tick it was started for (its nominal time, `TemporalScheduledStartTime`). */
  readonly scheduledAt: Date;
  readonly startedAt: Date;
  readonly closedAt: Date | null;
  /** From the tick to the first attempt's start, when the run recorded it. */
  readonly lagMs?: number | undefined;
}

/** Everything the classification reads; gathered by the ledger, passed in (time too). */
export interface TickFacts {
  /** The schedule's matching times in the window, in order (with jitter, the jittered times). */
  readonly ticks: readonly Date[];
  readonly now: Date;
  /** When the schedule was created. */
  readonly createdAt: Date;
  readonly overlap: OverlapPolicy;
  readonly catchupWindowMs: number;
  /** The schedule's jitter, ms; 0 for none. A run matches a tick up to this much before it. */
  readonly jitterMs: number;
  /** Paused now, and the note Temporal holds. */
  readonly pausedNow: boolean;
  readonly note: string | null;
  /** Paused periods Sundial recorded, oldest first. */
  readonly pauses: readonly PauseRecord[];
  /** The schedule's runs scheduled for the ticks, and those open around them. */
  readonly runs: readonly LedgerRun[];
  /** The newest time the schedule took an action for (its recent actions), if any. */
  readonly lastActionAt: Date | undefined;
  /** How long after its time a tick without a run is still taken for one starting, ms. */
  readonly startGraceMs: number;
  readonly jobId: string;
  /** The namespace's retention, ms: older runs are deleted. Undefined: unknown. */
  readonly retentionMs?: number | undefined;
  /** Workflow ids of the schedule's recent and running actions (ahead of visibility). */
  readonly startedIds: readonly string[];
}

/** The workflow id Temporal gives the run of a tick: `<jobId>-<RFC 3339, whole seconds>`. */
export function scheduledWorkflowId(jobId: string, tick: Date): string {
  return `${jobId}-${new Date(Math.floor(tick.getTime() / 1000) * 1000).toISOString().replace('.000Z', 'Z')}`;
}

/** A tick this soon after a recorded unpause may still have found the job paused: Temporal applies the change a moment after the request. */
export const UNPAUSE_SETTLE_MS = 2_000;

/** A tick due this recently without a run is still starting, not missed. @default */
export const START_GRACE_MS = 60_000;

const ref = (r: LedgerRun): TickRunRef => ({
  workflowId: r.workflowId,
  runId: r.runId,
  status: r.status,
  webUrl: r.webUrl,
});
const ago = (ms: number): string => formatDuration(Math.max(0, Math.round(ms / 1000)) * 1000);

/**
 * The paused periods to judge ticks by: the recorded ones, an open one ended where the evidence
 * says (still paused: now; unpaused outside Sundial: at the first action after it began), and,
 * when the job is paused now with no open record (paused outside Sundial's API: the Temporal CLI,
 * `pauseOnFailure`), one from its last action or recorded unpause, marked as inferred.
 */
interface PausedPeriod {
  readonly from: number;
  /** Exclusive; for a recorded unpause, {@link UNPAUSE_SETTLE_MS} after it. */
  readonly to: number;
  /** The end as recorded, for the reason. */
  readonly until?: string | undefined;
  readonly note?: string | undefined;
  readonly inferred: boolean;
}

function pausedPeriods(f: TickFacts): PausedPeriod[] {
  const periods: PausedPeriod[] = [];
  const actions = f.runs.map((r) => r.scheduledAt.getTime());
  if (f.lastActionAt !== undefined) actions.push(f.lastActionAt.getTime());
  for (const p of f.pauses) {
    const from = Date.parse(p.from);
    let to = p.to === undefined ? Number.POSITIVE_INFINITY : Date.parse(p.to);
    if (p.to === undefined && !f.pausedNow) to = Math.min(...actions.filter((a) => a > from), f.now.getTime());
    periods.push({
      from,
      to: p.to === undefined ? to : to + UNPAUSE_SETTLE_MS,
      until: p.to,
      note: p.note,
      inferred: false,
    });
  }
  const last = f.pauses[f.pauses.length - 1];
  if (f.pausedNow && (last === undefined || last.to !== undefined)) {
    const since = Math.max(
      f.createdAt.getTime(),
      last?.to === undefined ? 0 : Date.parse(last.to),
      f.lastActionAt?.getTime() ?? 0,
    );
    periods.push({ from: since, to: Number.POSITIVE_INFINITY, note: f.note ?? undefined, inferred: true });
  }
  return periods;
}

/**
 * What became of each tick. Pure. In order: a tick still to come is `not_yet`; one with its run
 * is `ran`/`running`; one before the job existed `before_created`; one in a paused period
 * `paused`; one with another run of the job still open at its time is `skipped_overlap` under
 * `skip` (under `buffer_*` it waits: `not_yet` while the run in its way lasts); one due moments
 * ago is `not_yet` (starting) unless the schedule has acted on a later tick; anything else found no run, no pause and nothing in its way, which
 * is what Temporal does with a tick it could not start within the catch-up window: `missed_catchup`.
 * The last three are inferences, and the reasons say so.
 */
export function classifyTicks(f: TickFacts): Tick[] {
  const now = f.now.getTime();
  const periods = pausedPeriods(f);
  const byScheduled = [...f.runs].sort((a, b) => a.scheduledAt.getTime() - b.scheduledAt.getTime());
  // Visible runs only: the schedule's own list of actions is ahead of visibility, where a tick's run may not be listed yet.
  const latestVisible = Math.max(Number.NEGATIVE_INFINITY, ...f.runs.map((r) => r.scheduledAt.getTime()));
  const started = new Set(f.startedIds);
  return f.ticks.map((tick): Tick => {
    const t = tick.getTime();
    const at = tick.toISOString();
    if (t > now) return { at, state: 'not_yet', reason: `due in ${ago(t - now)}` };

    const own = byScheduled.find((r) => r.scheduledAt.getTime() <= t && t - r.scheduledAt.getTime() <= f.jitterMs);
    if (own !== undefined) {
      const lagMs = own.lagMs ?? Math.max(0, own.startedAt.getTime() - t);
      if (own.status === 'running')
        return {
          at,
          state: 'running',
          reason: `started ${ago(lagMs)} after its time and still running`,
          run: ref(own),
          lagMs,
        };
      return { at, state: 'ran', reason: `started ${ago(lagMs)} after its time; ${own.status}`, run: ref(own), lagMs };
    }

    if (t < f.createdAt.getTime())
      return {
        at,
        state: 'before_created',
        reason: `the job was created at ${f.createdAt.toISOString()}, after this tick`,
      };

    const period = periods.find((p) => p.from <= t && t < p.to);
    if (period !== undefined) {
      const note = period.note === undefined ? '' : ` (${JSON.stringify(period.note)})`;
      const reason = period.inferred
        ? `the job is paused${note} and has started nothing since ${new Date(period.from).toISOString()}; paused outside Sundial's API (e.g. pauseOnFailure or the Temporal CLI), so when exactly is not recorded`
        : `the job was paused${note} from ${new Date(period.from).toISOString()}${period.until === undefined ? (Number.isFinite(period.to) ? ` until its next run (unpaused outside Sundial's API)` : ' and still is') : ` to ${period.until}`}`;
      return { at, state: 'paused', reason };
    }

    const inTheWay = f.runs.find(
      (r) => r.startedAt.getTime() <= t && (r.closedAt === null || r.closedAt.getTime() > t),
    );
    if (inTheWay !== undefined && f.overlap === 'skip') {
      return {
        at,
        state: 'skipped_overlap',
        reason: `run ${inTheWay.workflowId} (started ${inTheWay.startedAt.toISOString()}) was still running at this time and the overlap policy is skip (inferred from the runs)`,
        blockedBy: ref(inTheWay),
      };
    }
    if (inTheWay !== undefined && (f.overlap === 'buffer_one' || f.overlap === 'buffer_all')) {
      if (inTheWay.closedAt === null)
        return {
          at,
          state: 'not_yet',
          reason: `buffered (${f.overlap}) behind run ${inTheWay.workflowId}, which is still running`,
        };
      if (f.overlap === 'buffer_one') {
        return {
          at,
          state: 'skipped_overlap',
          reason: `run ${inTheWay.workflowId} was still running at this time and buffer_one keeps a single start waiting: this one was dropped (inferred from the runs)`,
          blockedBy: ref(inTheWay),
        };
      }
    }

    // Moments after its time a tick may still be starting (or its run not listed yet), unless a later one's run is listed.
    if (now - t < f.startGraceMs) {
      const id = scheduledWorkflowId(f.jobId, tick);
      if (started.has(id)) return { at, state: 'not_yet', reason: `started as ${id}; not listed in visibility yet` };
      if (!(latestVisible > t))
        return { at, state: 'not_yet', reason: `due ${ago(now - t)} ago; its run has not appeared yet (starting)` };
    }

    if (f.retentionMs !== undefined && now - t > f.retentionMs) {
      return {
        at,
        state: 'missed_catchup',
        reason: `no run found for this tick, but it is older than the namespace's retention (${formatDuration(f.retentionMs)}): its run may have been deleted, so missed is not certain`,
      };
    }
    return {
      at,
      state: 'missed_catchup',
      reason: `no run started for this tick although the job was not paused and no run was in its way: Temporal drops a tick it cannot start within the catch-up window (${formatDuration(f.catchupWindowMs)}), so the scheduler (Temporal) was most likely down or behind for longer than that (inferred)`,
    };
  });
}
