/** `npm run temporal:cli`: finds or builds the pinned Temporal CLI and prints its path. */
import { ensureTemporalCli } from '../temporal/cli';

ensureTemporalCli().then(
  (cli) => process.stdout.write(`${cli.path}\n`),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(1);
  },
);
