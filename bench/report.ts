// The readable summary of a benchmark run: every target with what was measured,
// then each scenario's settings and tables.
import type { ScenarioResult, Table } from './results.ts';

export function summary(results: readonly ScenarioResult[]): string {
  const first = results[0];
  if (!first) return '# confighash benchmarks\n\nNo scenario ran.\n';
  const { machine } = first;
  const lines = [
    '# confighash benchmarks',
    '',
    `${first.quick ? 'Quick run (small counts: a correctness check, not a measurement)' : 'Full run'} started ${first.startedAt}, ` +
      `on ${machine.cpu} (${machine.cores} cores), ${machine.memoryGiB} GiB, ${machine.kernel}; node ${machine.node}, ` +
      `Kubernetes ${machine.kubernetes} (etcd, kube-apiserver and kube-controller-manager on the same machine).`,
    '',
    '## Targets',
    '',
    ...table({
      title: '',
      columns: ['scenario', 'check', 'goal', 'measured', 'met'],
      rows: results.flatMap((r) =>
        r.targets.map((t) => [
          r.scenario,
          t.name,
          t.goal,
          t.note ? `${t.measured} (${t.note})` : t.measured,
          t.met ? 'yes' : '**no**',
        ]),
      ),
    }),
  ];
  for (const result of results) {
    lines.push(
      '',
      `## ${result.title}`,
      '',
      `Started ${result.startedAt}, ${result.seconds} s. Settings: ${settings(result.settings)}.`,
    );
    for (const t of result.tables) lines.push('', ...table(t));
  }
  return `${lines.join('\n')}\n`;
}

function settings(values: Record<string, string | number>): string {
  return Object.entries(values)
    .map(([name, value]) => `${name} ${value}`)
    .join('; ');
}

function table({ title, columns, rows }: Table): string[] {
  const cell = (value: string | number): string => String(value).replaceAll('|', '\\|');
  return [
    ...(title ? [`${title}:`, ''] : []),
    `| ${columns.join(' | ')} |`,
    `|${columns.map(() => '---').join('|')}|`,
    ...rows.map((row) => `| ${row.map(cell).join(' | ')} |`),
  ];
}
