import { existsSync } from 'node:fs';
import path from 'node:path';

/** The folder holding Sundial's package.json, found from this file whether run from src or dist. */
export function projectRoot(): string {
  let dir = __dirname;
  for (;;) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`cannot find Sundial's package.json above ${__dirname}`);
    dir = parent;
  }
}
