#!/usr/bin/env node
// Fails when the relative imports of a package's sources form a cycle. A cycle is nearly always a
// helper or a type in the wrong file, and it makes module load order (and so `undefined` at import
// time) depend on which file a test happens to import first. Type-only imports count too: they
// tie the two files together for a reader just the same.
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

const roots = process.argv.slice(2);
if (roots.length === 0) {
  console.error('usage: check-import-cycles.mjs DIR...  (source folders, e.g. proxy/src operator/src)');
  process.exit(2);
}

function sourceFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' || entry.name === 'dist' ? [] : sourceFiles(path);
    return /\.tsx?$/.test(entry.name) && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

function resolveImport(from, spec) {
  if (!spec.startsWith('.')) return undefined;
  const base = resolve(dirname(from), spec);
  const candidates = [
    base.replace(/\.js$/, '.ts'),
    base.replace(/\.js$/, '.tsx'),
    `${base}.ts`,
    join(base, 'index.ts'),
  ];
  return candidates.find((c) => existsSync(c));
}

const graph = new Map();
for (const root of roots) {
  for (const file of sourceFiles(resolve(root))) {
    const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    const edges = info.importedFiles.map((f) => resolveImport(file, f.fileName)).filter(Boolean);
    graph.set(file, [...new Set(edges)]);
  }
}

// Tarjan's strongly connected components: every component of more than one file is a cycle.
let index = 0;
const stack = [];
const meta = new Map();
const cycles = [];
function connect(v) {
  meta.set(v, { index, low: index, onStack: true });
  index++;
  stack.push(v);
  for (const w of graph.get(v) ?? []) {
    if (!graph.has(w)) continue;
    if (!meta.has(w)) {
      connect(w);
      meta.get(v).low = Math.min(meta.get(v).low, meta.get(w).low);
    } else if (meta.get(w).onStack) {
      meta.get(v).low = Math.min(meta.get(v).low, meta.get(w).index);
    }
  }
  if (meta.get(v).low === meta.get(v).index) {
    const component = [];
    let w;
    do {
      w = stack.pop();
      meta.get(w).onStack = false;
      component.push(w);
    } while (w !== v);
    if (component.length > 1) cycles.push(component);
  }
}
for (const v of graph.keys()) if (!meta.has(v)) connect(v);

if (cycles.length > 0) {
  console.error(`import cycles: ${cycles.length} (move the shared helper or type into a file both can import)`);
  for (const files of cycles) {
    const members = new Set(files);
    console.error(`- ${files.map((f) => relative(process.cwd(), f)).join(' <-> ')}`);
    for (const f of files) {
      const into = graph.get(f).filter((g) => members.has(g));
      console.error(
        `    ${relative(process.cwd(), f)} imports ${into.map((g) => relative(process.cwd(), g)).join(', ')}`,
      );
    }
  }
  process.exit(1);
}
console.log(`import cycles: none in ${graph.size} files`);
