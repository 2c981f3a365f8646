import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../../src/config/env';

/** The ConfigError that loading `env` throws; fails the test when it loads. */
export function problem(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err;
  }
  assert.fail('expected a ConfigError');
}
