// Piscina entry for examples/embed-worker.ts when running from TypeScript sources. On Node 20 a
// worker thread does not inherit tsx's loader (not even with execArgv: ['--import', 'tsx']), so
// this shim loads the TypeScript worker through tsx's API. With built JS, point Piscina at the
// .js worker directly and drop this file.
import { tsImport } from 'tsx/esm/api';

const worker = await tsImport('./embed-worker.ts', import.meta.url);
export default worker.default;
