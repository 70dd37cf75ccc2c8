// `confighash migrate-check`: every workload that carries stakater Reloader's
// annotations, what confighash will do with it, and where that differs.
import { parseArgs } from 'node:util';
import { AppsV1Api, BatchV1Api, CoreV1Api } from '@kubernetes/client-node';
import type { WorkloadKind } from '../checksum/index.ts';
import { loadKubeConfig } from '../kube/client.ts';
import { matchesLabels, parseLabelSelector } from '../scope/label-selector.ts';
import { type MigrationEntry, migrationEntry, type MigrationWorkload } from './migration.ts';
import { UsageError } from './run-options.ts';
import { renderTable } from './table.ts';

export const MIGRATE_CHECK_USAGE = `usage: confighash migrate-check [-n NAMESPACE | -A] [-o table|json]

Every Deployment, StatefulSet, DaemonSet and CronJob that carries stakater
Reloader's annotations: the annotations, the sources and keys confighash will
count, and where confighash behaves differently (docs/reloader.md).

  -n, --namespace NS             one namespace (default: the kubeconfig context's)
  -A, --all-namespaces           every namespace
  -o, --output FORMAT            table (default) or json
      --namespace-selector SEL   as confighash's (default confighash.dev/enabled=true)
      --kubeconfig PATH          kubeconfig file (default: $KUBECONFIG, then in-cluster)
`;

const OPTIONS = {
  namespace: { type: 'string', short: 'n' },
  'all-namespaces': { type: 'boolean', short: 'A' },
  output: { type: 'string', short: 'o', default: 'table' },
  'namespace-selector': { type: 'string', default: 'confighash.dev/enabled=true' },
  kubeconfig: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function migrateCheck(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: false });
  if (values.help) return write(MIGRATE_CHECK_USAGE);
  if (values.output !== 'table' && values.output !== 'json')
    throw new UsageError(`--output must be table or json, got "${values.output}"`);
  const selector = parseLabelSelector(values['namespace-selector']);
  const config = loadKubeConfig(values.kubeconfig);
  const namespace = values['all-namespaces'] ? undefined : (values.namespace ?? contextNamespace(config));
  const core = config.makeApiClient(CoreV1Api);
  const selected = new Set(
    (await core.listNamespace()).items.flatMap((ns) =>
      ns.metadata?.name && matchesLabels(selector, ns.metadata.labels ?? {}) ? [ns.metadata.name] : [],
    ),
  );
  const entries = (await workloads(config, namespace)).flatMap(
    ([kind, w]) => migrationEntry(kind, w, selected.has(w.metadata?.namespace ?? '')) ?? [],
  );
  if (values.output === 'json') return write(`${JSON.stringify(entries, null, 2)}\n`);
  if (entries.length === 0)
    return write(
      `No workload carries Reloader's annotations in ${namespace === undefined ? 'any namespace' : `namespace ${namespace}`}.\n`,
    );
  return write(table(entries));
}

async function workloads(
  config: ReturnType<typeof loadKubeConfig>,
  namespace: string | undefined,
): Promise<[WorkloadKind, MigrationWorkload][]> {
  const apps = config.makeApiClient(AppsV1Api);
  const batch = config.makeApiClient(BatchV1Api);
  const [deployments, statefulSets, daemonSets, cronJobs] = await Promise.all(
    namespace === undefined
      ? [
          apps.listDeploymentForAllNamespaces(),
          apps.listStatefulSetForAllNamespaces(),
          apps.listDaemonSetForAllNamespaces(),
          batch.listCronJobForAllNamespaces(),
        ]
      : [
          apps.listNamespacedDeployment({ namespace }),
          apps.listNamespacedStatefulSet({ namespace }),
          apps.listNamespacedDaemonSet({ namespace }),
          batch.listNamespacedCronJob({ namespace }),
        ],
  );
  const tag = (kind: WorkloadKind, items: readonly object[]): [WorkloadKind, MigrationWorkload][] =>
    items.map((w) => [kind, w as MigrationWorkload]);
  return [
    ...tag('Deployment', deployments.items),
    ...tag('StatefulSet', statefulSets.items),
    ...tag('DaemonSet', daemonSets.items),
    ...tag('CronJob', cronJobs.items),
  ];
}

function contextNamespace(config: ReturnType<typeof loadKubeConfig>): string {
  return config.getContextObject(config.getCurrentContext())?.namespace || 'default';
}

function table(entries: readonly MigrationEntry[]): string {
  const rows = entries.map((e) => [
    e.namespace,
    `${e.kind.toLowerCase()}/${e.name}`,
    e.reloader.join(' '),
    e.counts.join('; ') || '-',
    e.notes.join('; ') || '-',
  ]);
  return renderTable(['NAMESPACE', 'WORKLOAD', 'RELOADER ANNOTATIONS', 'CONFIGHASH COUNTS', 'NOTES'], rows);
}

function write(text: string): number {
  process.stdout.write(text);
  return 0;
}
