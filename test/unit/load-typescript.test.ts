import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { NonRetryableJobError } from '../../src/jobs/errors';
import { JobsModuleError, loadJobsModule } from '../../src/jobs/load';
import { JobRegistry } from '../../src/jobs/registry';

/** Sundial's public entry point as compiled: what a user's `import ... from 'sundial'` reaches. */
const PUBLIC = path.resolve(__dirname, '../../src/public/index.js');

describe('TypeScript jobs modules', () => {
  // Outside the repository, as a user's project is: nothing here is compiled by our tsc.
  const dir = mkdtempSync(path.join(tmpdir(), 'sundial-ts-jobs-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("when a .ts jobs module is loaded, then its typed jobs (importing a .ts helper) are returned, sharing Sundial's classes", () => {
    writeFileSync(path.join(dir, 'ids.ts'), "export const PREFIX: string = 'ts';\n");
    writeFileSync(
      path.join(dir, 'jobs.ts'),
      [
        `import { defineJob, NonRetryableJobError, type JobContext } from ${JSON.stringify(PUBLIC)};`,
        "import { PREFIX } from './ids';",
        'interface Args { readonly n: number }',
        'export const errorClass = NonRetryableJobError;',
        'export const jobs = [',
        "  defineJob<Args, number>({ id: `${PREFIX}-job`, schedule: { intervals: [{ every: '1h' }] }, args: { n: 2 }, run: (ctx: JobContext<Args>) => ctx.args.n * 2 }),",
        '];',
        '',
      ].join('\n'),
    );
    const jobs = loadJobsModule(path.join(dir, 'jobs.ts'), { apiUrl: 'http://127.0.0.1:1' });
    assert.deepEqual(
      JobRegistry.create(jobs).jobs.map((j) => j.spec.id),
      ['ts-job'],
    );
    // One copy of Sundial's modules: the worker's `instanceof NonRetryableJobError` holds.
    const mod = require(path.join(dir, 'jobs.ts')) as { errorClass: unknown };
    assert.equal(mod.errorClass, NonRetryableJobError);
  });

  it('when a .ts jobs module does not compile, then JobsModuleError names the file', () => {
    const file = path.join(dir, 'broken.ts');
    writeFileSync(file, 'export const jobs = [\n');
    assert.throws(
      () => loadJobsModule(file, { apiUrl: 'http://127.0.0.1:1' }),
      (err: Error) => err instanceof JobsModuleError && err.message.includes(file),
    );
  });
});
