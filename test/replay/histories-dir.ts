import path from 'node:path';
import { projectRoot } from '../../src/util/paths';

/** Where the recorded histories live (in the source tree: the compiled tests read them there). */
export const HISTORIES_DIR = path.join(projectRoot(), 'test', 'replay', 'histories');
