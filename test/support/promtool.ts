import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { findGo, goInstall, GoInstallError, isExecutable, onPath } from '../../src/temporal/go-install';
import { projectRoot } from '../../src/util/paths';

/**
 * The pinned promtool, Prometheus's checker for configs, rules and rule unit tests. Prometheus
 * 3.x is tagged v0.3xx.y as a Go module (v0.316.0 is Prometheus 3.16.0); it is the first 3.x tag
 * whose go.mod has no `replace`/`exclude` directive, which `go install pkg@version` refuses.
 */
export const PROMTOOL_MODULE = 'github.com/prometheus/prometheus/cmd/promtool';
export const PROMTOOL_VERSION = 'v0.316.0';

/** Neither a promtool nor a Go toolchain to build one was found, or the build failed. */
export class PromtoolUnavailableError extends Error {
  override readonly name = 'PromtoolUnavailableError';
}

export interface FoundPromtool {
  readonly path: string;
  readonly source: 'env' | 'path' | 'cache' | 'built';
}

/** Where the pinned promtool is kept once built: git-ignored, per version. */
export function cachedPromtoolPath(root = projectRoot()): string {
  return path.join(root, '.cache', 'promtool', PROMTOOL_VERSION, 'promtool');
}

/** Looks for promtool without building: `$PROMTOOL`, then PATH, then the project's cache. */
export function findPromtool(env: NodeJS.ProcessEnv = process.env): FoundPromtool | undefined {
  const fromEnv = env.PROMTOOL;
  if (fromEnv !== undefined && fromEnv !== '') {
    if (!isExecutable(fromEnv))
      throw new PromtoolUnavailableError(`PROMTOOL points to ${fromEnv}, which is not an executable file`);
    return { path: fromEnv, source: 'env' };
  }
  const onThePath = onPath('promtool', env.PATH ?? '');
  if (onThePath !== undefined) return { path: onThePath, source: 'path' };
  const cached = cachedPromtoolPath();
  return isExecutable(cached) ? { path: cached, source: 'cache' } : undefined;
}

/** What to tell someone who has no promtool, naming every way to get one. */
export function promtoolMissingMessage(): string {
  return (
    `No promtool found ($PROMTOOL, PATH, or ${cachedPromtoolPath()}). Run \`npm run promtool\` (needs Go >= 1.25; ` +
    `builds ${PROMTOOL_MODULE}@${PROMTOOL_VERSION} once, a few minutes), or install Prometheus's promtool and put it ` +
    'on PATH or set PROMTOOL to it.'
  );
}

/**
 * Finds promtool, building the pinned version into the cache once when it is missing and Go is
 * available. Safe to run from several processes at once: each builds into a private folder and
 * renames the binary into place.
 * @throws PromtoolUnavailableError when there is neither a promtool nor a usable Go, or the build fails.
 */
export async function ensurePromtool(
  progress: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
  env: NodeJS.ProcessEnv = process.env,
): Promise<FoundPromtool> {
  const found = findPromtool(env);
  if (found !== undefined) return found;
  const go = findGo(env);
  if (go === undefined) throw new PromtoolUnavailableError(promtoolMissingMessage());
  const target = cachedPromtoolPath();
  progress(`Building promtool ${PROMTOOL_VERSION} with ${go.version} into ${target} (once; a few minutes)...`);
  const started = Date.now();
  try {
    await goInstall(
      go,
      PROMTOOL_VERSION,
      [{ pkg: PROMTOOL_MODULE, builtAs: 'promtool', name: 'promtool' }],
      path.dirname(target),
      progress,
      {
        ...env,
        GOFLAGS: `${env.GOFLAGS ?? ''} -trimpath`.trim(),
      },
    );
  } catch (err) {
    if (!(err instanceof GoInstallError)) throw err;
    throw new PromtoolUnavailableError(
      `go install ${PROMTOOL_MODULE}@${PROMTOOL_VERSION} failed (exit ${err.exitCode}):\n${err.outputTail}`,
      { cause: err },
    );
  }
  progress(`Built promtool in ${Math.round((Date.now() - started) / 1000)} s.`);
  return { path: target, source: 'built' };
}

/** promtool's exit code and output, for assertions that show what it said. */
export interface PromtoolResult {
  readonly code: number | null;
  readonly output: string;
}

/**
 * Runs promtool with `args` in `cwd`, `input` on its stdin (bounded: a hung promtool is killed
 * after `timeoutMs`).
 */
export function runPromtool(
  promtool: string,
  args: readonly string[],
  cwd: string,
  timeoutMs = 60_000,
  input = '',
): PromtoolResult {
  const out = spawnSync(promtool, [...args], { cwd, encoding: 'utf8', timeout: timeoutMs, input });
  if (out.error !== undefined) return { code: null, output: `promtool ${args.join(' ')}: ${out.error.message}` };
  return { code: out.status, output: `${out.stdout}${out.stderr}` };
}
