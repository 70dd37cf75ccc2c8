// `confighash history KIND/NAME`: the workload's revisions with the configuration
// each ran, read from the stamp every ReplicaSet (or ControllerRevision) keeps in
// its pod template. What `kubectl rollout history --revision=N` shows one by one.
import { parseArgs } from 'node:util';
import { AppsV1Api } from '@kubernetes/client-node';
import { ANNOTATION } from '../checksum/index.ts';
import { loadKubeConfig } from '../kube/client.ts';
import { UsageError } from './run-options.ts';
import { renderTable } from './table.ts';

export const HISTORY_USAGE = `usage: confighash history KIND/NAME [-n NAMESPACE] [-o table|json]

The revisions of a Deployment, StatefulSet or DaemonSet, oldest first, with the
configuration each ran: its checksum and the short digest of each source.
`;

export interface Revision {
  revision: number;
  created: string;
  checksum: string | undefined;
  sources: string | undefined;
}

interface Owned {
  metadata?: { creationTimestamp?: Date; annotations?: Record<string, string>; ownerReferences?: { uid?: string }[] };
}

const OPTIONS = {
  namespace: { type: 'string', short: 'n' },
  output: { type: 'string', short: 'o', default: 'table' },
  kubeconfig: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function history(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true });
  if (values.help) return write(HISTORY_USAGE);
  const [kindText = '', name] = (positionals[0] ?? '').split('/');
  const kind = {
    deployment: 'Deployment',
    deploy: 'Deployment',
    statefulset: 'StatefulSet',
    sts: 'StatefulSet',
    daemonset: 'DaemonSet',
    ds: 'DaemonSet',
  }[kindText.toLowerCase().replace(/s$/, '')];
  if (!kind || !name) throw new UsageError(`expected KIND/NAME, e.g. deployment/web\n\n${HISTORY_USAGE}`);
  const config = loadKubeConfig(values.kubeconfig);
  const namespace = values.namespace ?? (config.getContextObject(config.getCurrentContext())?.namespace || 'default');
  const revisions = await revisionsOf(config.makeApiClient(AppsV1Api), kind, namespace, name);
  if (values.output === 'json') return write(`${JSON.stringify(revisions, null, 2)}\n`);
  const short = (checksum: string | undefined): string =>
    checksum ? `${checksum.slice(0, 2)}:${(checksum.split(':').at(-1) ?? '').slice(0, 12)}` : '-';
  return write(
    renderTable(
      ['REVISION', 'CREATED', 'CHECKSUM', 'SOURCES'],
      revisions.map((r) => [String(r.revision), r.created, short(r.checksum), r.sources ?? '-']),
    ),
  );
}

interface Entry {
  revision: number;
  owner: Owned;
  annotations: Record<string, string> | undefined;
}

async function revisionsOf(apps: AppsV1Api, kind: string, namespace: string, name: string): Promise<Revision[]> {
  const uid = (await readWorkload(apps, kind, namespace, name)).metadata?.uid;
  const owned = (o: Owned): boolean => o.metadata?.ownerReferences?.some((ref) => ref.uid === uid) ?? false;
  const entries =
    kind === 'Deployment'
      ? await replicaSets(apps, namespace, owned)
      : await controllerRevisions(apps, namespace, owned);
  return entries
    .sort((a, b) => a.revision - b.revision)
    .map(({ revision, owner, annotations }) => ({
      revision,
      created: owner.metadata?.creationTimestamp?.toISOString() ?? '',
      checksum: annotations?.[ANNOTATION.checksum],
      sources: annotations?.[ANNOTATION.sources],
    }));
}

function readWorkload(
  apps: AppsV1Api,
  kind: string,
  namespace: string,
  name: string,
): Promise<{ metadata?: { uid?: string } }> {
  if (kind === 'Deployment') return apps.readNamespacedDeployment({ name, namespace });
  return kind === 'StatefulSet'
    ? apps.readNamespacedStatefulSet({ name, namespace })
    : apps.readNamespacedDaemonSet({ name, namespace });
}

async function replicaSets(apps: AppsV1Api, namespace: string, owned: (o: Owned) => boolean): Promise<Entry[]> {
  return (await apps.listNamespacedReplicaSet({ namespace })).items.filter(owned).map((rs) => ({
    revision: Number(rs.metadata?.annotations?.['deployment.kubernetes.io/revision'] ?? 0),
    owner: rs,
    annotations: rs.spec?.template?.metadata?.annotations,
  }));
}

async function controllerRevisions(apps: AppsV1Api, namespace: string, owned: (o: Owned) => boolean): Promise<Entry[]> {
  return (await apps.listNamespacedControllerRevision({ namespace })).items.filter(owned).map((cr) => {
    // A ControllerRevision's data is the patch that makes the workload's template.
    const data = cr.data as
      { spec?: { template?: { metadata?: { annotations?: Record<string, string> } } } } | undefined;
    return { revision: cr.revision, owner: cr, annotations: data?.spec?.template?.metadata?.annotations };
  });
}

function write(text: string): number {
  process.stdout.write(text);
  return 0;
}
