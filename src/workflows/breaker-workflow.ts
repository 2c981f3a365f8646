import {
  allHandlersFinished,
  condition,
  continueAsNew,
  log,
  setHandler,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import { evictions } from '../breaker/cache';
import {
  admitUpdate,
  cachedQuery,
  forceOpenUpdate,
  recordUpdate,
  resetUpdate,
  stateQuery,
  type BreakerView,
  type CachedResult,
} from '../breaker/contract';
import {
  initialState,
  step,
  type BreakerConfig,
  type BreakerEvent,
  type BreakerState,
  type BreakerStateName,
} from '../breaker/state';
import { workflowNow } from './clock';

export interface BreakerWorkflowInput {
  readonly key: string;
  /** Carried over continue-as-new. */
  readonly state?: BreakerState;
  readonly config?: BreakerConfig;
  readonly jobs?: string[];
  readonly cache?: Record<string, CachedResult>;
  readonly transitions?: Record<BreakerStateName, number>;
}

const DEFAULT_CONFIG: BreakerConfig = {
  failureThreshold: 5,
  openForMs: 30_000,
  maxOpenForMs: 600_000,
  halfOpenProbes: 1,
};

/** Updates handled before the history is trimmed with continue-as-new. */
const EVENTS_BEFORE_CONTINUE = 500;

/**
 * One circuit breaker for the whole cluster: a long-lived entity workflow per key. Every admit
 * and every outcome is an update, handled one at a time by this single writer, so half-open
 * probes are counted exactly without a lock service; its state survives any worker or API
 * restart because it is the workflow's state. It also keeps each job's last good result for
 * the fallback.
 */
export async function breakerWorkflow(input: BreakerWorkflowInput): Promise<void> {
  let state: BreakerState = input.state ?? initialState;
  let config: BreakerConfig = input.config ?? DEFAULT_CONFIG;
  const jobs = new Set<string>(input.jobs ?? []);
  const cache: Record<string, CachedResult> = { ...(input.cache ?? {}) };
  const transitions: Record<BreakerStateName, number> = { closed: 0, half_open: 0, open: 0, ...input.transitions };
  let handled = 0;
  // Each cached result's size, computed once (JSON characters); not carried over continue-as-new.
  const sizes = new Map<string, number>();
  const sizeOf = (jobId: string): number => {
    let n = sizes.get(jobId);
    if (n === undefined) {
      n = JSON.stringify(cache[jobId]?.result ?? null).length;
      sizes.set(jobId, n);
    }
    return n;
  };
  // A cache carried over from a release without the bound is trimmed at once.
  for (const id of evictions(cache, sizeOf)) delete cache[id];

  const view = (): BreakerView => ({
    key: input.key,
    state: state.kind,
    failures: state.kind === 'closed' ? state.consecutiveFailures : 0,
    ...(state.kind === 'open'
      ? {
          openedAt: new Date(state.openedAt).toISOString(),
          nextProbeAt: new Date(state.openedAt + state.openForMs).toISOString(),
          reason: state.reason,
        }
      : {}),
    jobs: [...jobs].sort(),
    transitions: { ...transitions },
  });

  const apply = (event: BreakerEvent) => {
    const result = step(state, event, config, workflowNow());
    for (const t of result.transitions) {
      transitions[t.to]++;
      log.info('breaker transition', { key: input.key, from: t.from, to: t.to, reason: t.reason });
    }
    state = result.state;
    handled++;
    return result;
  };

  setHandler(admitUpdate, (req) => {
    config = req.config;
    jobs.add(req.jobId);
    const result = apply({ type: 'admit', permitId: uuid4(), leaseMs: req.leaseMs });
    return { ...(result.permit === undefined ? {} : { permit: result.permit }), view: view() };
  });
  setHandler(recordUpdate, (req) => {
    config = req.config;
    jobs.add(req.jobId);
    apply({ type: req.released === true ? 'release' : req.ok ? 'success' : 'failure', permit: req.permit });
    if (req.ok && req.cache !== undefined) {
      cache[req.jobId] = { result: req.cache.result, cachedAt: new Date(workflowNow()).toISOString() };
      sizes.delete(req.jobId);
      // Oldest results go first, so the continue-as-new input stays under the payload limit.
      for (const id of evictions(cache, sizeOf)) {
        delete cache[id];
        sizes.delete(id);
      }
    }
    return view();
  });
  setHandler(resetUpdate, (req) => {
    if (req.config) config = req.config;
    apply({ type: 'reset' });
    return view();
  });
  setHandler(forceOpenUpdate, (req) => {
    if (req.config) config = req.config;
    apply({ type: 'force_open' });
    return view();
  });
  setHandler(stateQuery, () => {
    // A query cannot change state, but it can tell that openFor has passed.
    if (state.kind === 'open' && workflowNow() >= state.openedAt + state.openForMs)
      return { ...view(), state: 'half_open' };
    return view();
  });
  setHandler(cachedQuery, (jobId) => cache[jobId] ?? null);

  await condition(() => handled >= EVENTS_BEFORE_CONTINUE || workflowInfo().continueAsNewSuggested);
  await condition(allHandlersFinished);
  await continueAsNew<typeof breakerWorkflow>({ key: input.key, state, config, jobs: [...jobs], cache, transitions });
}
