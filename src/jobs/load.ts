import path from 'node:path';
import type { DefinedJob } from './define';

/** A jobs module exports its jobs as `jobs` or as the default export: an array or a function returning one. */
type JobsExport = DefinedJob[] | ((ctx: { apiUrl: string }) => DefinedJob[]);

export class JobsModuleError extends Error {
  override readonly name = 'JobsModuleError';
}

/** Extensions loaded through tsx: TypeScript as written, no build step. */
const TYPESCRIPT = /\.(?:[cm]?ts|tsx)$/;

let tsxRegistered = false;

/**
 * Requires a user's module by path (relative to the working directory). A TypeScript file
 * turns on tsx's CommonJS hook for the rest of the process (as `node --require tsx/cjs` would),
 * so the user's imports (`sundial`, their own `.ts` files, a lazy `import()` inside a job) load
 * as they would in their editor. Not tsx's scoped `require`: that one loads every module it
 * reaches a second time under its own cache key, and a `NonRetryableJobError` thrown by the
 * user's copy of Sundial would not be the class the worker checks for.
 */
export function requireUserModule(modulePath: string): unknown {
  const resolved = path.resolve(modulePath);
  if (TYPESCRIPT.test(resolved) && !tsxRegistered) {
    (require('tsx/cjs/api') as { register: () => unknown }).register();
    tsxRegistered = true;
  }
  return require(resolved) as unknown;
}

/**
 * Loads the user's jobs from a module (`SUNDIAL_JOBS_MODULE`, `sundial dev --jobs`): a path,
 * relative to the working directory, to a `.js` file or a `.ts` file run as written.
 * @throws JobsModuleError when it cannot be loaded or exports no jobs.
 */
export function loadJobsModule(modulePath: string, ctx: { apiUrl: string }): DefinedJob[] {
  const resolved = path.resolve(modulePath);
  let mod: { jobs?: JobsExport; default?: JobsExport };
  try {
    mod = requireUserModule(resolved) as typeof mod;
  } catch (err) {
    throw new JobsModuleError(`jobs module: cannot load ${resolved}: ${(err as Error).message}`);
  }
  const exported = mod.jobs ?? mod.default;
  const jobs = typeof exported === 'function' ? exported(ctx) : exported;
  if (!Array.isArray(jobs))
    throw new JobsModuleError(`jobs module: ${resolved} exports no \`jobs\` array (or function returning one)`);
  return jobs;
}
