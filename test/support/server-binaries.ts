/**
 * The full Temporal server and its SQL schema tool, pinned and built once with `go install` into
 * the git-ignored `.cache/temporal-server/<version>/`, for the cluster tests and benchmarks
 * (test/support/cluster.ts). Sundial itself never needs them: users bring their own cluster.
 */
import path from 'node:path';
import { findGo, goInstall, GoInstallError, isExecutable, MIN_GO } from '../../src/temporal/go-install';
import { projectRoot } from '../../src/util/paths';

export const TEMPORAL_SERVER_VERSION = 'v1.31.2';
const SERVER_PKG = 'go.temporal.io/server/cmd/server';
const SQL_TOOL_PKG = 'go.temporal.io/server/cmd/tools/sql';

/** Neither cached binaries nor a Go toolchain to build them. */
export class TemporalServerUnavailableError extends Error {
  override readonly name = 'TemporalServerUnavailableError';
}

/** Paths of the two binaries. */
export interface ServerBinaries {
  /** `temporal-server` (`go.temporal.io/server/cmd/server`). */
  readonly server: string;
  /** `temporal-sql-tool` (`go.temporal.io/server/cmd/tools/sql`). */
  readonly sqlTool: string;
  readonly source: 'cache' | 'built';
}

/** Where the pinned binaries are kept: git-ignored, per version. */
export function serverBinDir(root = projectRoot()): string {
  return path.join(root, '.cache', 'temporal-server', TEMPORAL_SERVER_VERSION);
}

function cached(): Omit<ServerBinaries, 'source'> {
  const dir = serverBinDir();
  return { server: path.join(dir, 'temporal-server'), sqlTool: path.join(dir, 'temporal-sql-tool') };
}

/**
 * Returns the cached binaries, building whichever is missing first (a few minutes the first
 * time, seconds when Go's build cache is warm).
 * @throws TemporalServerUnavailableError when a binary is missing and there is no Go >= 1.25,
 *   or `go install` fails.
 */
export async function ensureServerBinaries(
  progress: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
  env: NodeJS.ProcessEnv = process.env,
): Promise<ServerBinaries> {
  const paths = cached();
  const missing = [
    ...(isExecutable(paths.server) ? [] : [{ pkg: SERVER_PKG, builtAs: 'server', name: path.basename(paths.server) }]),
    ...(isExecutable(paths.sqlTool) ? [] : [{ pkg: SQL_TOOL_PKG, builtAs: 'sql', name: path.basename(paths.sqlTool) }]),
  ];
  if (missing.length === 0) return { ...paths, source: 'cache' };
  const go = findGo(env);
  if (go === undefined) {
    throw new TemporalServerUnavailableError(
      `The Temporal server ${TEMPORAL_SERVER_VERSION} is not built (${missing.map((m) => m.name).join(', ')} missing in ${serverBinDir()}) ` +
        `and there is no Go >= ${MIN_GO.join('.')} on PATH or in /usr/local/go/bin to build it. Install Go >= ${MIN_GO.join('.')} and run \`npm run temporal:server\`.`,
    );
  }
  progress(
    `Building ${missing.map((m) => `${m.pkg}@${TEMPORAL_SERVER_VERSION}`).join(' and ')} with ${go.version} into ${serverBinDir()} (once; several minutes)...`,
  );
  const started = Date.now();
  try {
    await goInstall(go, TEMPORAL_SERVER_VERSION, missing, serverBinDir(), progress, env);
  } catch (err) {
    if (!(err instanceof GoInstallError)) throw err;
    throw new TemporalServerUnavailableError(err.message, { cause: err });
  }
  progress(`Built the Temporal server in ${Math.round((Date.now() - started) / 1000)} s.`);
  return { ...paths, source: 'built' };
}
