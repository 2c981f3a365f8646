import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { findGo } from '../../src/temporal/cli';
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

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Looks for promtool without building: `$PROMTOOL`, then PATH, then the project's cache. */
export function findPromtool(env: NodeJS.ProcessEnv = process.env): FoundPromtool | undefined {
  const fromEnv = env.PROMTOOL;
  if (fromEnv !== undefined && fromEnv !== '') {
    if (!isExecutable(fromEnv)) throw new PromtoolUnavailableError(`PROMTOOL points to ${fromEnv}, which is not an executable file`);
    return { path: fromEnv, source: 'env' };
  }
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (dir !== '' && isExecutable(path.join(dir, 'promtool'))) return { path: path.join(dir, 'promtool'), source: 'path' };
  }
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
  mkdirSync(path.dirname(target), { recursive: true });
  const gobin = mkdtempSync(path.join(path.dirname(target), 'build-'));
  progress(`Building promtool ${PROMTOOL_VERSION} with ${go.version} into ${target} (once; a few minutes)...`);
  const started = Date.now();
  const ticker = setInterval(() => progress(`  ...still building promtool (${Math.round((Date.now() - started) / 1000)} s)`), 30_000);
  try {
    const { code, tail } = await new Promise<{ code: number | null; tail: string[] }>((resolve, reject) => {
      const child = spawn(go.path, ['install', `${PROMTOOL_MODULE}@${PROMTOOL_VERSION}`], {
        env: { ...env, GOBIN: gobin, GOFLAGS: `${env.GOFLAGS ?? ''} -trimpath`.trim() },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const lines: string[] = [];
      const keep = (chunk: Buffer) => {
        for (const line of chunk.toString().split('\n')) {
          // Module downloads are hundreds of lines of progress, not diagnostics.
          if (line.trim() === '' || line.startsWith('go: downloading')) continue;
          lines.push(line);
          if (lines.length > 40) lines.shift();
        }
      };
      child.stdout.on('data', keep);
      child.stderr.on('data', keep);
      child.on('error', reject);
      child.on('close', (c) => resolve({ code: c, tail: lines }));
    });
    if (code !== 0 || !existsSync(path.join(gobin, 'promtool'))) {
      throw new PromtoolUnavailableError(`go install ${PROMTOOL_MODULE}@${PROMTOOL_VERSION} failed (exit ${code}):\n${tail.join('\n')}`);
    }
    renameSync(path.join(gobin, 'promtool'), target);
  } finally {
    clearInterval(ticker);
    rmSync(gobin, { recursive: true, force: true });
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
export function runPromtool(promtool: string, args: readonly string[], cwd: string, timeoutMs = 60_000, input = ''): PromtoolResult {
  const out = spawnSync(promtool, [...args], { cwd, encoding: 'utf8', timeout: timeoutMs, input });
  if (out.error !== undefined) return { code: null, output: `promtool ${args.join(' ')}: ${out.error.message}` };
  return { code: out.status, output: `${out.stdout}${out.stderr}` };
}
