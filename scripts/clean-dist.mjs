// Empties dist/ before a build, so that files of modules since removed or renamed never ship
// (package.json publishes dist/src whole) nor get loaded by a test or a bench.
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

rmSync(join(dirname(fileURLToPath(import.meta.url)), '..', 'dist'), { recursive: true, force: true });
