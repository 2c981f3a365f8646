import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';

/** The oldest Go that builds the pinned Temporal CLI and server. */
export const MIN_GO = [1, 25] as const;

/** True when `file` exists and may be executed by this process. */
export function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first executable called `name` on `envPath`, if any. */
export function onPath(name: string, envPath = process.env.PATH ?? ''): string | undefined {
  for (const dir of envPath.split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** A Go toolchain found on this machine. */
export interface FoundGo {
  readonly path: string;
  /** e.g. `go1.26.1` */
  readonly version: string;
}

/** The Go toolchain, if present and at least {@link MIN_GO}. */
export function findGo(env: NodeJS.ProcessEnv = process.env): FoundGo | undefined {
  const go = onPath('go', env.PATH) ?? (isExecutable('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : undefined);
  if (go === undefined) return undefined;
  const out = spawnSync(go, ['env', 'GOVERSION'], { encoding: 'utf8' });
  const m = /^go(\d+)\.(\d+)/.exec(out.stdout?.trim() ?? '');
  if (m === null) return undefined;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  if (major < MIN_GO[0] || (major === MIN_GO[0] && minor < MIN_GO[1])) return undefined;
  return { path: go, version: out.stdout.trim() };
}

/** One binary to build: `go install <pkg>@<version>`, kept in the target folder as `name`. */
export interface GoBinary {
  /** Go package path, e.g. `go.temporal.io/server/cmd/server`. */
  readonly pkg: string;
  /** The file name `go install` gives it: the package's last path element. */
  readonly builtAs: string;
  /** The file name to keep it under in `targetDir`. */
  readonly name: string;
}

/** `go install` exited non-zero or did not produce a binary. */
export class GoInstallError extends Error {
  override readonly name = 'GoInstallError';
  constructor(
    readonly pkg: string,
    readonly exitCode: number | null,
    readonly outputTail: string,
  ) {
    super(`go install ${pkg} failed (exit ${exitCode})${outputTail === '' ? '' : `:\n${outputTail}`}`);
  }
}

/**
 * Builds `binaries` at `version` with `go install` into `targetDir`. Each build goes into a
 * private folder and is renamed into place, so two processes building at once cannot leave a
 * half-written binary behind (the last rename wins with an identical file). Progress lines go
 * to `progress`; `go: downloading` lines are summarised.
 * @throws GoInstallError naming the package that failed.
 */
export async function goInstall(
  go: FoundGo,
  version: string,
  binaries: readonly GoBinary[],
  targetDir: string,
  progress: (line: string) => void,
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  mkdirSync(targetDir, { recursive: true });
  const gobin = mkdtempSync(path.join(targetDir, 'build-'));
  const started = Date.now();
  const ticker = setInterval(
    () => progress(`  ...still building (${Math.round((Date.now() - started) / 1000)} s)`),
    15_000,
  );
  try {
    for (const bin of binaries) {
      const target = `${bin.pkg}@${version}`;
      const tail: string[] = [];
      const code = await new Promise<number | null>((resolve, reject) => {
        const child = spawn(go.path, ['install', target], {
          env: { ...env, GOBIN: gobin },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let downloads = 0;
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
        child.on('close', resolve);
      });
      const built = path.join(gobin, bin.builtAs);
      if (code !== 0 || !existsSync(built)) throw new GoInstallError(target, code, tail.join('\n'));
      renameSync(built, path.join(targetDir, bin.name));
    }
  } finally {
    clearInterval(ticker);
    rmSync(gobin, { recursive: true, force: true });
  }
}
