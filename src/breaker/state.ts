/**
 * The circuit breaker as a pure state machine: deterministic, no I/O, so the breaker's entity
 * workflow can run it. Time is passed in (workflow time), never read.
 */

/** What a job declares, compiled to milliseconds. */
export interface BreakerConfig {
  /** Consecutive failures that open a closed breaker. */
  readonly failureThreshold: number;
  /** Optionally also open when the failure rate over `windowMs` reaches `threshold` (0..1). */
  readonly failureRate?: { readonly threshold: number; readonly minimumCalls: number; readonly windowMs: number };
  /** How long the breaker stays open before letting probes through. */
  readonly openForMs: number;
  /** Each reopening doubles openFor, up to this. */
  readonly maxOpenForMs: number;
  /** How many runs may probe the dependency at once while half-open. */
  readonly halfOpenProbes: number;
}

export const BreakerStateName = { closed: 'closed', open: 'open', half_open: 'half_open' } as const;
export type BreakerStateName = (typeof BreakerStateName)[keyof typeof BreakerStateName];

/** Each state carries only its own data. */
export type BreakerState =
  | {
      readonly kind: 'closed';
      readonly consecutiveFailures: number;
      readonly calls: ReadonlyArray<{ readonly at: number; readonly ok: boolean }>;
    }
  | { readonly kind: 'open'; readonly openedAt: number; readonly openForMs: number; readonly reason: string }
  | {
      readonly kind: 'half_open';
      readonly openForMs: number;
      readonly probes: ReadonlyArray<{ readonly id: string; readonly leasedUntil: number }>;
    };

export const initialState: BreakerState = { kind: 'closed', consecutiveFailures: 0, calls: [] };

/** A permit to call the dependency; a probe permit is one of the half-open slots. */
export interface Permit {
  readonly id: string;
  readonly probe: boolean;
}

export type BreakerEvent =
  | { readonly type: 'admit'; readonly permitId: string; readonly leaseMs: number }
  | { readonly type: 'success'; readonly permit: Permit }
  | { readonly type: 'failure'; readonly permit: Permit }
  /** The attempt ended without telling anything about the dependency (its worker shut down). */
  | { readonly type: 'release'; readonly permit: Permit }
  | { readonly type: 'reset' }
  | { readonly type: 'force_open' };

export interface Transition {
  readonly from: BreakerStateName;
  readonly to: BreakerStateName;
  readonly reason: string;
}

export interface StepResult {
  readonly state: BreakerState;
  /** For admit: the permit, or undefined when the call is refused. */
  readonly permit?: Permit;
  readonly transitions: readonly Transition[];
}

function open(openForMs: number, now: number, reason: string): BreakerState {
  return { kind: 'open', openedAt: now, openForMs, reason };
}

function shouldTrip(state: Extract<BreakerState, { kind: 'closed' }>, cfg: BreakerConfig): string | undefined {
  if (state.consecutiveFailures >= cfg.failureThreshold) return `${state.consecutiveFailures} consecutive failures`;
  const rate = cfg.failureRate;
  if (rate !== undefined && state.calls.length >= rate.minimumCalls) {
    const failed = state.calls.filter((c) => !c.ok).length;
    if (failed / state.calls.length >= rate.threshold)
      return `failure rate ${failed}/${state.calls.length} over the window`;
  }
  return undefined;
}

/** Applies one event at time `now` (ms). Pure. */
export function step(state: BreakerState, event: BreakerEvent, cfg: BreakerConfig, now: number): StepResult {
  const transitions: Transition[] = [];
  let s = state;
  const move = (next: BreakerState, reason: string) => {
    transitions.push({ from: s.kind, to: next.kind, reason });
    s = next;
  };
  // Open → half-open happens lazily, when someone asks after openFor has passed.
  if (s.kind === 'open' && now >= s.openedAt + s.openForMs && event.type !== 'reset' && event.type !== 'force_open') {
    move({ kind: 'half_open', openForMs: s.openForMs, probes: [] }, `open for ${s.openForMs} ms`);
  }
  switch (event.type) {
    case 'reset':
      if (s.kind !== 'closed' || s.consecutiveFailures > 0) move(initialState, 'reset by an operator');
      return { state: s, transitions };
    case 'force_open':
      move(open(cfg.openForMs, now, 'opened by an operator'), 'opened by an operator');
      return { state: s, transitions };
    case 'admit': {
      if (s.kind === 'closed') return { state: s, permit: { id: event.permitId, probe: false }, transitions };
      if (s.kind === 'open') return { state: s, transitions };
      const live = s.probes.filter((p) => p.leasedUntil > now);
      if (live.length >= cfg.halfOpenProbes) return { state: { ...s, probes: live }, transitions };
      s = { ...s, probes: [...live, { id: event.permitId, leasedUntil: now + event.leaseMs }] };
      return { state: s, permit: { id: event.permitId, probe: true }, transitions };
    }
    case 'success':
      if (s.kind === 'half_open' && s.probes.some((p) => p.id === event.permit.id))
        move(initialState, 'a probe succeeded');
      else if (s.kind === 'closed') {
        s = { ...s, consecutiveFailures: 0, calls: windowed([...s.calls, { at: now, ok: true }], cfg, now) };
      }
      return { state: s, transitions };
    case 'failure':
      if (s.kind === 'half_open' && s.probes.some((p) => p.id === event.permit.id)) {
        move(open(Math.min(s.openForMs * 2, cfg.maxOpenForMs), now, 'a probe failed'), 'a probe failed');
      } else if (s.kind === 'closed') {
        const next = {
          ...s,
          consecutiveFailures: s.consecutiveFailures + 1,
          calls: windowed([...s.calls, { at: now, ok: false }], cfg, now),
        };
        s = next;
        const why = shouldTrip(next, cfg);
        if (why !== undefined) move(open(cfg.openForMs, now, why), why);
      }
      return { state: s, transitions };
    case 'release':
      // A probe's slot goes back to the pool; nothing is counted either way.
      if (s.kind === 'half_open') s = { ...s, probes: s.probes.filter((p) => p.id !== event.permit.id) };
      return { state: s, transitions };
  }
}

function windowed(calls: Array<{ at: number; ok: boolean }>, cfg: BreakerConfig, now: number) {
  const windowMs = cfg.failureRate?.windowMs ?? 0;
  return windowMs === 0 ? [] : calls.filter((c) => c.at > now - windowMs).slice(-1000);
}
