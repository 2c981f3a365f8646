/** `npm run promtool`: finds or builds the pinned promtool and prints its path. */
import { ensurePromtool } from './promtool';

ensurePromtool().then(
  (found) => process.stdout.write(`${found.path}\n`),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(1);
  },
);
