/** `npm run temporal:server`: finds or builds the pinned Temporal server and SQL tool and prints their paths. */
import { ensureServerBinaries } from './server-binaries';

ensureServerBinaries().then(
  (bins) => process.stdout.write(`${bins.server}\n${bins.sqlTool}\n`),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(1);
  },
);
