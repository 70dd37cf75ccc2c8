// `npm run lint`'s check of the layering: each folder of src/ imports only the
// folders docs/architecture.md says it may (LAYERS below is that table), and no
// files import each other in a circle. Tests are not checked: they may reach anywhere.
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';

const SRC = resolve(import.meta.dirname, '..', 'src');

/** What each folder may import, besides itself: the table in docs/architecture.md. */
const LAYERS: Record<string, string[]> = {
  time: [],
  http: [],
  checksum: [],
  telemetry: ['http'],
  policy: ['time'],
  kube: ['telemetry', 'time'],
  scope: ['checksum', 'kube', 'time'],
  sources: ['checksum', 'kube', 'scope'],
  workloads: ['checksum', 'kube', 'telemetry', 'time'],
  keys: ['checksum', 'kube', 'telemetry'],
  tls: ['kube', 'telemetry'],
  notify: ['kube', 'policy', 'telemetry', 'time'],
  webhook: ['checksum', 'http', 'kube', 'policy', 'scope', 'sources', 'telemetry', 'tls', 'workloads'],
  controller: ['checksum', 'kube', 'notify', 'policy', 'scope', 'sources', 'telemetry', 'time', 'workloads'],
  agent: ['checksum', 'telemetry', 'time'],
  // The commands wire everything together.
  cli: [
    'agent',
    'checksum',
    'controller',
    'http',
    'keys',
    'kube',
    'notify',
    'policy',
    'scope',
    'sources',
    'telemetry',
    'time',
    'tls',
    'webhook',
    'workloads',
  ],
};

const IMPORT =
  /(?:^|\s)(?:import|export)\s[^'";]*?from\s*'(\.[^']+)'|import\(\s*'(\.[^']+)'\s*\)|^import\s+'(\.[^']+)'/gm;

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.test.ts'))
    .map((e) => join(e.parentPath, e.name));
}

const folderOf = (file: string): string => relative(SRC, file).split('/')[0] ?? '';

async function importGraph(files: string[]): Promise<Map<string, string[]>> {
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const text = await readFile(file, 'utf8');
    const targets = [...text.matchAll(IMPORT)].map((m) => resolve(dirname(file), m[1] ?? m[2] ?? m[3] ?? ''));
    graph.set(
      file,
      targets.filter((target) => target.startsWith(`${SRC}/`)),
    );
  }
  return graph;
}

function layeringProblems(graph: Map<string, string[]>): string[] {
  const problems: string[] = [];
  for (const [file, targets] of graph) {
    const from = folderOf(file);
    const allowed = LAYERS[from];
    if (!allowed) {
      problems.push(
        `src/${relative(SRC, file)}: folder ${from} has no line in LAYERS (scripts/check-imports.ts) and docs/architecture.md`,
      );
      continue;
    }
    for (const target of targets) {
      const to = folderOf(target);
      if (to !== from && !allowed.includes(to))
        problems.push(
          `src/${relative(SRC, file)} imports src/${relative(SRC, target)}: ${from}/ may not import ${to}/`,
        );
    }
  }
  return problems;
}

/** Strongly connected components of more than one file (Tarjan), each a circle of imports. */
function circles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const found: string[][] = [];
  const lower = (file: string, to: number | undefined): void => {
    low.set(file, Math.min(low.get(file) ?? Infinity, to ?? Infinity));
  };
  const visit = (file: string): void => {
    index.set(file, index.size);
    low.set(file, index.size - 1);
    stack.push(file);
    for (const target of graph.get(file) ?? []) {
      if (!index.has(target)) visit(target);
      if (stack.includes(target)) lower(file, Math.min(low.get(target) ?? Infinity, index.get(target) ?? Infinity));
    }
    if (low.get(file) === index.get(file)) found.push(stack.splice(stack.indexOf(file)));
  };
  for (const file of graph.keys()) if (!index.has(file)) visit(file);
  return found
    .filter((component) => component.length > 1)
    .map((component) => component.map((f) => `src/${relative(SRC, f)}`).sort());
}

const graph = await importGraph(await sourceFiles(SRC));
const problems = [
  ...layeringProblems(graph),
  ...circles(graph).map((c) => `these files import each other in a circle: ${c.join(', ')}`),
];
for (const problem of problems) process.stderr.write(`${problem}\n`);
if (problems.length > 0) process.exitCode = 1;
