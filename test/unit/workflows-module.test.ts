import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { SUNDIAL_WORKFLOW_TYPES, WORKFLOWS_PATH, workflowsModule } from '../../src/worker/workflows-module';

describe('the workflows module a worker bundles', () => {
  it("when Sundial's workflows module changes its exports, then SUNDIAL_WORKFLOW_TYPES is updated with it", () => {
    // Loading workflow code outside the sandbox only defines functions; nothing runs.
    const exported = Object.keys(require(WORKFLOWS_PATH) as object).sort();
    assert.deepEqual([...SUNDIAL_WORKFLOW_TYPES].sort(), exported);
  });

  it("when there is no user module, then Sundial's own is bundled as it is", () => {
    const m = workflowsModule(undefined);
    assert.equal(m.workflowsPath, WORKFLOWS_PATH);
    assert.equal(m.webpackConfigHook, undefined);
  });

  it("when a user module is given, then a generated entry re-exports it and Sundial's workflows by name, and is removed after bundling", () => {
    const m = workflowsModule('some/dir/workflows.ts');
    const entry = readFileSync(m.workflowsPath, 'utf8');
    assert.ok(entry.includes(`export * from ${JSON.stringify(path.resolve('some/dir/workflows.ts'))};`), entry);
    assert.ok(
      entry.includes(`export { ${SUNDIAL_WORKFLOW_TYPES.join(', ')} } from ${JSON.stringify(WORKFLOWS_PATH)};`),
      entry,
    );
    assert.ok(SUNDIAL_WORKFLOW_TYPES.includes('jobWorkflow'));
    // Webpack also searches Sundial's own modules folder, where @temporalio/workflow is.
    const config = m.webpackConfigHook!({ resolve: { modules: ['node_modules'] } });
    const modules = config.resolve?.modules as string[];
    assert.equal(modules[0], 'node_modules');
    assert.ok(existsSync(path.join(modules[1]!, '@temporalio', 'workflow')), modules[1]);
    m.dispose();
    assert.equal(existsSync(m.workflowsPath), false);
  });
});
