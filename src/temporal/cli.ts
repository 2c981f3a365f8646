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

/** Where the pinned CLI is kept once built: git-ignored, per version. */
export function cachedCliPath(root = projectRoot()): string {
  return path.join(root, '.cache', 'temporal', TEMPORAL_CLI_VERSION, 'temporal');
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
  progress(`Building the Temporal CLI ${TEMPORAL_CLI_VERSION} with ${go.version} into ${target} (once; a few minutes)...`);
  const started = Date.now();
  try {
    await goInstall(go, TEMPORAL_CLI_VERSION, [{ pkg: TEMPORAL_CLI_MODULE, builtAs: 'temporal', name: 'temporal' }], path.dirname(target), progress, {
      ...env,
      GOFLAGS: `${env.GOFLAGS ?? ''} -trimpath`.trim(),
    });
  } catch (err) {
    if (!(err instanceof GoInstallError)) throw err;
    progress(err.outputTail);
    throw new TemporalCliUnavailableError(`go install ${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION} failed (exit ${err.exitCode})`, { cause: err });
  }
  progress(`Built the Temporal CLI in ${Math.round((Date.now() - started) / 1000)} s.`);
  return { path: target, source: 'built' };
}
