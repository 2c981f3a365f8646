import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { DefinedJob } from './define';

/** A jobs module exports its jobs as `jobs` or as the default export: an array or a function returning one. */
type JobsExport = DefinedJob[] | ((ctx: { apiUrl: string }) => DefinedJob[]);

export class JobsModuleError extends Error {
  override readonly name = 'JobsModuleError';
}

/** Extensions loaded through tsx: TypeScript as written, no build step. */
const TYPESCRIPT = /\.(?:[cm]?ts|tsx)$/;

/**
 * Requires a user's module by path (relative to the working directory). TypeScript files go
 * through tsx's CommonJS loader, scoped to this one require: the process's own `require` and
 * every other module stay untouched, and the user's imports (`sundial`, their own files)
 * resolve from the file's folder as they would in their editor.
 */
export function requireUserModule(modulePath: string): unknown {
  const resolved = path.resolve(modulePath);
  if (!TYPESCRIPT.test(resolved)) return require(resolved) as unknown;
  const tsx = require('tsx/cjs/api') as { require: (id: string, parentURL: string) => unknown };
  return tsx.require(resolved, pathToFileURL(__filename).href);
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
  if (!Array.isArray(jobs)) throw new JobsModuleError(`jobs module: ${resolved} exports no \`jobs\` array (or function returning one)`);
  return jobs;
}
