import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { initialState, step, type BreakerConfig, type BreakerState, type Permit } from '../../src/breaker/state';

const cfg: BreakerConfig = { failureThreshold: 3, openForMs: 1_000, maxOpenForMs: 4_000, halfOpenProbes: 2 };
const permit = (id: string, probe = false): Permit => ({ id, probe });

function failTimes(state: BreakerState, n: number, now = 0): BreakerState {
  let s = state;
  for (let i = 0; i < n; i++) s = step(s, { type: 'failure', permit: permit(`f${i}`) }, cfg, now).state;
  return s;
}

describe('the breaker state machine', () => {
  it('opens after failureThreshold consecutive failures, with a transition naming the reason', () => {
    const s = failTimes(initialState, 2);
    assert.equal(s.kind, 'closed');
    const r = step(s, { type: 'failure', permit: permit('x') }, cfg, 10);
    assert.equal(r.state.kind, 'open');
    assert.deepEqual(r.transitions, [{ from: 'closed', to: 'open', reason: '3 consecutive failures' }]);
  });

  it('a success resets the consecutive count', () => {
    let s = failTimes(initialState, 2);
    s = step(s, { type: 'success', permit: permit('ok') }, cfg, 0).state;
    s = failTimes(s, 2);
    assert.equal(s.kind, 'closed');
  });

  it('refuses while open; after openFor lets exactly halfOpenProbes through', () => {
    const open = failTimes(initialState, 3, 0);
    assert.equal(step(open, { type: 'admit', permitId: 'a', leaseMs: 60_000 }, cfg, 500).permit, undefined);
    let s = open;
    const granted: Permit[] = [];
    for (let i = 0; i < 20; i++) {
      const r = step(s, { type: 'admit', permitId: `p${i}`, leaseMs: 60_000 }, cfg, 1_000);
      s = r.state;
      if (r.permit) granted.push(r.permit);
    }
    assert.equal(granted.length, 2);
    assert.ok(granted.every((p) => p.probe));
    assert.equal(s.kind, 'half_open');
  });

  it('a probe success closes it; a probe failure reopens it with openFor doubled, up to the maximum', () => {
    const half = step(failTimes(initialState, 3, 0), { type: 'admit', permitId: 'p', leaseMs: 60_000 }, cfg, 1_000);
    assert.equal(step(half.state, { type: 'success', permit: half.permit! }, cfg, 1_100).state.kind, 'closed');
    const reopened = step(half.state, { type: 'failure', permit: half.permit! }, cfg, 1_100).state;
    assert.equal(reopened.kind, 'open');
    assert.equal(reopened.kind === 'open' && reopened.openForMs, 2_000);
    let s: BreakerState = reopened;
    let t = 1_100;
    for (let i = 0; i < 5; i++) {
      t += 10_000;
      const r = step(s, { type: 'admit', permitId: `q${i}`, leaseMs: 60_000 }, cfg, t);
      s = step(r.state, { type: 'failure', permit: r.permit! }, cfg, t).state;
    }
    assert.equal(s.kind === 'open' && s.openForMs, 4_000);
  });

  it('a probe that never reports back frees its slot when its lease ends', () => {
    const first = step(
      failTimes(initialState, 3, 0),
      { type: 'admit', permitId: 'p1', leaseMs: 5_000 },
      { ...cfg, halfOpenProbes: 1 },
      1_000,
    );
    assert.ok(first.permit);
    assert.equal(
      step(first.state, { type: 'admit', permitId: 'p2', leaseMs: 5_000 }, { ...cfg, halfOpenProbes: 1 }, 2_000).permit,
      undefined,
    );
    assert.ok(
      step(first.state, { type: 'admit', permitId: 'p3', leaseMs: 5_000 }, { ...cfg, halfOpenProbes: 1 }, 6_001).permit,
    );
  });

  it('opens on the failure rate over the window', () => {
    const rateCfg: BreakerConfig = {
      ...cfg,
      failureThreshold: 100,
      failureRate: { threshold: 0.5, minimumCalls: 4, windowMs: 10_000 },
    };
    let s: BreakerState = initialState;
    const outcomes = [true, false, true, false];
    outcomes.forEach((ok, i) => {
      s = step(s, { type: ok ? 'success' : 'failure', permit: permit(`c${i}`) }, rateCfg, i).state;
    });
    assert.equal(s.kind, 'open');
  });

  it('reset closes and force_open opens, from any state', () => {
    const open = failTimes(initialState, 3);
    assert.equal(step(open, { type: 'reset' }, cfg, 0).state.kind, 'closed');
    assert.equal(step(initialState, { type: 'force_open' }, cfg, 0).state.kind, 'open');
  });
});
