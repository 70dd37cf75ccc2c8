// `confighash status` and `confighash explain` (also `kubectl confighash ...`):
// which configuration each tracked workload runs, and whether it is current.
import { parseArgs } from 'node:util';
import { loadKubeConfig } from '../kube/client.ts';
import { createInspector, type WorkloadReport, type WorkloadState } from './inspect.ts';
import { type LabelSelector, parseLabelSelector } from '../scope/label-selector.ts';
import { UsageError } from './run-options.ts';
import { type Colour, renderTable, useColour } from './table.ts';

export const STATUS_USAGE = `usage: confighash status [-n NAMESPACE | -A] [-o table|json] [--check]

Every tracked workload: its sources, stored vs current checksum, and its state:
current, pending (a rollout is due), deferred (held by a maintenance window,
min-interval or the previous rollout), awaiting-approval, rolling (confighash's
rollout is under way), failed (it did not complete), missing-source, ignored,
not-adopted, too-many-sources; with the reload strategy, reloaded (every pod runs
its files as they are now), reloading (the kubelet or the agents are not there
yet) or reload-failed.

  -n, --namespace NS         one namespace (default: the kubeconfig context's)
  -A, --all-namespaces       every namespace that opted in
  -o, --output FORMAT        table (default) or json
      --check                exit 1 if any workload is pending, deferred, awaiting-approval,
                             failed, missing-source or reload-failed
      --kubeconfig PATH      kubeconfig file (default: $KUBECONFIG, then in-cluster)
      --confighash-namespace NS   where confighash runs (default confighash-system)
      --namespace-selector SEL    with -A: the namespaces confighash acts in, as its
                                  --namespace-selector (default confighash.dev/enabled=true)
      --resource-label-selector SEL   as confighash's, if it runs with one
      --reloader-annotations false    if confighash runs with it
`;

export const EXPLAIN_USAGE = `usage: confighash explain KIND/NAME [-n NAMESPACE] [-o table|json]

Per source of one workload: the consumed keys, where they are referenced, how a
change reaches the pods (a rollout, or a reload in place), and the stored and
current digests; with the reload strategy, what each pod's agent reports. KIND is
deployment, statefulset, daemonset, cronjob or rollout (or deploy, sts, ds, cj, ro). Takes
--resource-label-selector as status does.
`;

const OPTIONS = {
  namespace: { type: 'string', short: 'n' },
  'all-namespaces': { type: 'boolean', short: 'A' },
  output: { type: 'string', short: 'o', default: 'table' },
  check: { type: 'boolean' },
  kubeconfig: { type: 'string' },
  'confighash-namespace': { type: 'string', default: 'confighash-system' },
  'namespace-selector': { type: 'string', default: 'confighash.dev/enabled=true' },
  'resource-label-selector': { type: 'string', default: '' },
  'reloader-annotations': { type: 'string', default: 'true' },
  help: { type: 'boolean', short: 'h' },
} as const;

const STATE_COLOURS: Record<WorkloadState, Colour> = {
  current: 'green',
  reloaded: 'green',
  pending: 'yellow',
  deferred: 'yellow',
  'awaiting-approval': 'yellow',
  rolling: 'yellow',
  failed: 'red',
  reloading: 'yellow',
  'missing-source': 'red',
  'reload-failed': 'red',
  'too-many-sources': 'red',
  ignored: 'grey',
  'not-adopted': 'grey',
};

const KINDS: Record<string, WorkloadReport['kind']> = {
  deployment: 'Deployment',
  deployments: 'Deployment',
  deploy: 'Deployment',
  statefulset: 'StatefulSet',
  statefulsets: 'StatefulSet',
  sts: 'StatefulSet',
  daemonset: 'DaemonSet',
  daemonsets: 'DaemonSet',
  ds: 'DaemonSet',
  cronjob: 'CronJob',
  cronjobs: 'CronJob',
  cj: 'CronJob',
  rollout: 'Rollout',
  rollouts: 'Rollout',
  ro: 'Rollout',
};

type Parsed = ReturnType<typeof parse>;

function parse(
  argv: readonly string[],
): ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true; args: string[] }>> {
  const parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true });
  if (parsed.values.output !== 'table' && parsed.values.output !== 'json') {
    throw new UsageError(`--output must be table or json, got "${parsed.values.output}"`);
  }
  return parsed;
}

async function inspector(
  values: Parsed['values'],
): Promise<{ inspector: Awaited<ReturnType<typeof createInspector>>; namespace: string }> {
  const config = loadKubeConfig(values.kubeconfig);
  const namespace = values.namespace ?? (config.getContextObject(config.getCurrentContext())?.namespace || 'default');
  const options = {
    namespaces: selector('namespace-selector', values['namespace-selector']),
    sources: {
      selector: selector('resource-label-selector', values['resource-label-selector']),
      reloaderAnnotations: values['reloader-annotations'] !== 'false',
    },
  };
  return { inspector: await createInspector(config, values['confighash-namespace'], options), namespace };
}

function selector(flag: string, text: string): LabelSelector {
  try {
    return parseLabelSelector(text);
  } catch (error) {
    throw new UsageError(`--${flag}: ${(error as Error).message}`, { cause: error });
  }
}

export async function status(argv: readonly string[]): Promise<number> {
  const { values } = parse(argv);
  if (values.help) return write(STATUS_USAGE, 0);
  const { inspector: ins, namespace } = await inspector(values);
  const namespaces = values['all-namespaces'] ? await ins.optedInNamespaces() : [namespace];
  const reports: WorkloadReport[] = [];
  for (const ns of namespaces) reports.push(...(await ins.workloads(ns)));
  if (values.output === 'json') write(`${JSON.stringify(reports, null, 2)}\n`, 0);
  else if (reports.length === 0)
    write(
      `No tracked workloads in ${values['all-namespaces'] ? 'any opted-in namespace' : `namespace ${namespace}`}.\n`,
      0,
    );
  else write(statusTable(reports), 0);
  const failing = reports.some((r) =>
    ['pending', 'deferred', 'awaiting-approval', 'failed', 'missing-source', 'reload-failed'].includes(r.state),
  );
  return values.check && failing ? 1 : 0;
}

export async function explain(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parse(argv);
  if (values.help) return write(EXPLAIN_USAGE, 0);
  const [kindText, name] = (positionals[0] ?? '').split('/');
  const kind = KINDS[(kindText ?? '').toLowerCase()];
  if (!kind || !name) throw new UsageError(`expected KIND/NAME, e.g. deployment/web\n\n${EXPLAIN_USAGE}`);
  const { inspector: ins, namespace } = await inspector(values);
  const report = (await ins.workloads(namespace)).find((r) => r.kind === kind && r.name === name);
  if (!report) {
    return write(`${kind} ${namespace}/${name} not found, or it consumes no ConfigMap or Secret.\n`, 1, process.stderr);
  }
  if (values.output === 'json') return write(`${JSON.stringify(report, null, 2)}\n`, 0);
  return write(explainText(report), 0);
}

function statusTable(reports: readonly WorkloadReport[]): string {
  const rows = reports.map((r) => [
    r.namespace,
    `${r.kind.toLowerCase()}/${r.name}`,
    r.detail ? `${r.state} (${r.detail})` : r.state,
    r.sources.map((s) => `${s.id}=${s.current}`).join(','),
    checksumCell(r),
  ]);
  const colour = useColour(process.stdout);
  return renderTable(
    ['NAMESPACE', 'WORKLOAD', 'STATE', 'SOURCES (current)', 'CHECKSUM (stored → current)'],
    rows,
    (column, value) => (colour && column === 2 ? STATE_COLOURS[value.split(' ')[0] as WorkloadState] : undefined),
  );
}

function checksumCell(report: WorkloadReport): string {
  // `v2:<key>:<hex>` is shown as its version and 12 hex characters; `-` when nothing is stored.
  const short = (checksum: string | undefined): string =>
    checksum ? `${checksum.slice(0, 2)}:${(checksum.split(':').at(-1) ?? '').slice(0, 12)}` : '-';
  if (report.storedChecksum === report.currentChecksum) return short(report.currentChecksum);
  return `${short(report.storedChecksum)} → ${short(report.currentChecksum)}`;
}

function explainText(report: WorkloadReport): string {
  const header = `${report.kind} ${report.namespace}/${report.name}: ${report.state}${report.detail ? ` (${report.detail})` : ''}\n\n`;
  // How a change is delivered is worth a column only where it is not always a rollout.
  const delivery = (s: WorkloadReport['sources'][number]): string[] =>
    report.reload ? [s.delivery === 'reload' ? 'reload in place' : 'rollout'] : [];
  const rows = report.sources.map((s) => [
    s.id,
    s.keys === '*' ? '*' : s.keys.join(','),
    s.referencedBy.join(', '),
    ...delivery(s),
    s.stored ?? '-',
    s.current,
  ]);
  const sources = renderTable(
    ['SOURCE', 'KEYS', 'REFERENCED BY', ...(report.reload ? ['A CHANGE IS'] : []), 'STORED', 'CURRENT'],
    rows,
  );
  if (!report.reload) return header + sources;
  const pods = report.reload.pods.map((p) => [p.pod, p.state, String(p.reloads), p.lastSuccess ?? '-', p.error ?? '']);
  const agents =
    pods.length > 0
      ? renderTable(['POD', 'AGENT', 'RELOADS', 'LAST RELOAD', 'ERROR'], pods)
      : 'No running pod has the agent yet.\n';
  return `${header}${sources}\nReloaded in place by ${report.reload.trigger} (container ${report.reload.container}):\n${agents}`;
}

function write(text: string, code: number, stream: NodeJS.WriteStream = process.stdout): number {
  stream.write(text);
  return code;
}
