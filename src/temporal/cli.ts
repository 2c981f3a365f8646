import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, accessSync, constants } from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../util/paths';
import { TemporalCliUnavailableError } from './errors';

/**
 * The pinned Temporal CLI. v1.5.1 is the newest tag `go install` accepts: later tags carry a
 * `replace` directive in go.mod, which `go install pkg@version` refuses.
 */
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal';
export const TEMPORAL_CLI_VERSION = 'v1.5.1';
const MIN_GO = [1, 25] as const;

export type CliSource = 'env' | 'path' | 'cache' | 'built';

export interface FoundCli {
  readonly path: string;
  readonly source: CliSource;
}

/** Where the pinned CLI is kept once built: git-ignored, per version. */
export function cachedCliPath(root = projectRoot()): string {
  return path.join(root, '.cache', 'temporal', TEMPORAL_CLI_VERSION, 'temporal');
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string, envPath = process.env.PATH ?? ''): string | undefined {
  for (const dir of envPath.split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** Looks for the CLI without building: `$TEMPORAL_CLI`, then PATH, then the project's cache. */
export function findTemporalCli(env: NodeJS.ProcessEnv = process.env): FoundCli | undefined {
  const fromEnv = env.TEMPORAL_CLI;
  if (fromEnv !== undefined && fromEnv !== '') {
    if (!isExecutable(fromEnv)) throw new TemporalCliUnavailableError(`TEMPORAL_CLI points to ${fromEnv}, which is not an executable file`);
    return { path: fromEnv, source: 'env' };
  }
  const fromPath = onPath('temporal', env.PATH);
  if (fromPath !== undefined) return { path: fromPath, source: 'path' };
  const cached = cachedCliPath();
  if (isExecutable(cached)) return { path: cached, source: 'cache' };
  return undefined;
}

/** The Go toolchain, if present and new enough to build the CLI. */
export function findGo(env: NodeJS.ProcessEnv = process.env): { path: string; version: string } | undefined {
  const go = onPath('go', env.PATH) ?? (isExecutable('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : undefined);
  if (go === undefined) return undefined;
  const out = spawnSync(go, ['env', 'GOVERSION'], { encoding: 'utf8' });
  const m = /^go(\d+)\.(\d+)/.exec(out.stdout?.trim() ?? '');
  if (m === null) return undefined;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  if (major < MIN_GO[0] || (major === MIN_GO[0] && minor < MIN_GO[1])) return undefined;
  return { path: go, version: out.stdout.trim() };
}

/**
 * Finds the Temporal CLI, building the pinned version into the cache once when it is missing
 * and Go >= 1.25 is available. Progress goes to `progress` (stderr by default). Nothing is
 * downloaded but Go modules through the configured Go proxy.
 * @throws TemporalCliUnavailableError when there is neither a CLI nor a usable Go.
 */
export async function ensureTemporalCli(
  progress: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
  env: NodeJS.ProcessEnv = process.env,
): Promise<FoundCli> {
  const found = findTemporalCli(env);
  if (found !== undefined) return found;
  const go = findGo(env);
  if (go === undefined) {
    throw new TemporalCliUnavailableError(
      'No Temporal CLI found ($TEMPORAL_CLI, PATH, or ' +
        `${cachedCliPath()}) and no Go >= ${MIN_GO.join('.')} to build one. Either install the Temporal CLI ` +
        '(https://docs.temporal.io/cli) and put `temporal` on PATH or set TEMPORAL_CLI to it, or install Go >= 1.25 ' +
        `and Sundial builds ${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION} itself.`,
    );
  }
  const target = cachedCliPath();
  mkdirSync(path.dirname(target), { recursive: true });
  // Build into a private folder and rename: two processes building at once cannot leave a
  // half-written binary behind, and the last rename wins with an identical file.
  const gobin = mkdtempSync(path.join(path.dirname(target), 'build-'));
  progress(`Building the Temporal CLI ${TEMPORAL_CLI_VERSION} with ${go.version} into ${target} (once; a few minutes)...`);
  const started = Date.now();
  const ticker = setInterval(() => progress(`  ...still building (${Math.round((Date.now() - started) / 1000)} s)`), 15_000);
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(go.path, ['install', `${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION}`], {
        env: { ...env, GOBIN: gobin, GOFLAGS: `${env.GOFLAGS ?? ''} -trimpath`.trim() },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let downloads = 0;
      const tail: string[] = [];
      const onLine = (chunk: Buffer) => {
        for (const line of chunk.toString().split('\n')) {
          if (line.trim() === '') continue;
          if (line.startsWith('go: downloading')) {
            downloads++;
            if (downloads % 25 === 1) progress(`  downloading modules (${downloads})...`);
          } else {
            tail.push(line);
            if (tail.length > 40) tail.shift();
          }
        }
      };
      child.stdout.on('data', onLine);
      child.stderr.on('data', onLine);
      child.on('error', reject);
      child.on('close', (c) => {
        if (c !== 0) progress(tail.join('\n'));
        resolve(c);
      });
    });
    if (code !== 0 || !existsSync(path.join(gobin, 'temporal'))) {
      throw new TemporalCliUnavailableError(`go install ${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION} failed (exit ${code})`);
    }
    renameSync(path.join(gobin, 'temporal'), target);
  } finally {
    clearInterval(ticker);
    rmSync(gobin, { recursive: true, force: true });
  }
  progress(`Built the Temporal CLI in ${Math.round((Date.now() - started) / 1000)} s.`);
  return { path: target, source: 'built' };
}
