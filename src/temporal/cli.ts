import { homedir } from 'node:os';
import path from 'node:path';
import { projectRoot } from '../util/paths';
import { TemporalCliUnavailableError } from './errors';
import { findGo, goInstall, GoInstallError, isExecutable, MIN_GO, onPath } from './go-install';

export { findGo } from './go-install';

/**
 * The pinned Temporal CLI. v1.5.1 is the newest tag `go install` accepts: later tags carry a
 * `replace` directive in go.mod, which `go install pkg@version` refuses.
 */
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal';
export const TEMPORAL_CLI_VERSION = 'v1.5.1';

export type CliSource = 'env' | 'path' | 'cache' | 'built';

export interface FoundCli {
  readonly path: string;
  readonly source: CliSource;
}

/**
 * Where Sundial keeps what it builds: `$SUNDIAL_CACHE_DIR` when set; in a checkout of this
 * repository, its git-ignored `.cache/`; in an installed package, the user's cache folder
 * (`$XDG_CACHE_HOME/sundial`, else `~/.cache/sundial`), shared by every project on the machine
 * and kept across `npm ci`, which wipes node_modules (and node_modules may be read-only).
 */
export function cacheDir(env: NodeJS.ProcessEnv = process.env, root = projectRoot()): string {
  if (env.SUNDIAL_CACHE_DIR !== undefined && env.SUNDIAL_CACHE_DIR !== '') return path.resolve(env.SUNDIAL_CACHE_DIR);
  if (!root.split(path.sep).includes('node_modules')) return path.join(root, '.cache');
  const xdg = env.XDG_CACHE_HOME;
  return path.join(xdg !== undefined && path.isAbsolute(xdg) ? xdg : path.join(homedir(), '.cache'), 'sundial');
}

/** Where the pinned CLI is kept once built, per version (see {@link cacheDir}). */
export function cachedCliPath(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(cacheDir(env), 'temporal', TEMPORAL_CLI_VERSION, 'temporal');
}

/** Looks for the CLI without building: `$TEMPORAL_CLI`, then PATH, then the project's cache. */
export function findTemporalCli(env: NodeJS.ProcessEnv = process.env): FoundCli | undefined {
  const fromEnv = env.TEMPORAL_CLI;
  if (fromEnv !== undefined && fromEnv !== '') {
    if (!isExecutable(fromEnv))
      throw new TemporalCliUnavailableError(`TEMPORAL_CLI points to ${fromEnv}, which is not an executable file`);
    return { path: fromEnv, source: 'env' };
  }
  const fromPath = onPath('temporal', env.PATH);
  if (fromPath !== undefined) return { path: fromPath, source: 'path' };
  const cached = cachedCliPath(env);
  if (isExecutable(cached)) return { path: cached, source: 'cache' };
  return undefined;
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
        `${cachedCliPath(env)}) and no Go >= ${MIN_GO.join('.')} to build one. Either install the Temporal CLI ` +
        '(https://docs.temporal.io/cli) and put `temporal` on PATH or set TEMPORAL_CLI to it, or install Go >= 1.25 ' +
        `and Sundial builds ${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION} itself.`,
    );
  }
  const target = cachedCliPath(env);
  progress(
    `Building the Temporal CLI ${TEMPORAL_CLI_VERSION} with ${go.version} into ${target} (once; a few minutes)...`,
  );
  const started = Date.now();
  try {
    await goInstall(
      go,
      TEMPORAL_CLI_VERSION,
      [{ pkg: TEMPORAL_CLI_MODULE, builtAs: 'temporal', name: 'temporal' }],
      path.dirname(target),
      progress,
      {
        ...env,
        GOFLAGS: `${env.GOFLAGS ?? ''} -trimpath`.trim(),
      },
    );
  } catch (err) {
    if (!(err instanceof GoInstallError)) throw err;
    progress(err.outputTail);
    throw new TemporalCliUnavailableError(
      `go install ${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION} failed (exit ${err.exitCode})`,
      { cause: err },
    );
  }
  progress(`Built the Temporal CLI in ${Math.round((Date.now() - started) / 1000)} s.`);
  return { path: target, source: 'built' };
}
