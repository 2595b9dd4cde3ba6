// Compiles the repository's WebAssembly text sources (src/**/*.wat) with wabt's wat2wasm (an
// npm devDependency) and writes each .wasm twice: beside its source (read by tests and tsx runs
// of src/, ignored by git) and at the same place under dist/ (read by the built package).
// `npm run build` runs it before tsc; no binary is ever committed.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

let initWabt;
try {
  ({ default: initWabt } = await import('wabt'));
} catch (err) {
  console.error(`build-wasm: cannot load wabt (${err.message}). It is a devDependency: run npm install.`);
  process.exit(1);
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function* watFiles(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* watFiles(p);
    else if (e.name.endsWith('.wat')) yield p;
  }
}

const wabt = await initWabt();
for (const src of watFiles(join(root, 'src'))) {
  const rel = relative(root, src);
  const mod = wabt.parseWat(rel, readFileSync(src, 'utf8'));
  try {
    mod.validate();
    const { buffer } = mod.toBinary({});
    const name = rel.replace(/\.wat$/, '.wasm');
    for (const out of [join(root, name), join(root, 'dist', name)]) {
      mkdirSync(dirname(out), { recursive: true });
      writeFileSync(out, buffer);
    }
    console.log(`wasm: ${rel} → ${name} (${buffer.length} B)`);
  } finally {
    mod.destroy();
  }
}
