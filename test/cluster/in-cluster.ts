// confighash installed in the local cluster the way users install it: its image
// (already imported into the node by launcher.ts) run by the Deployment of
// `kubectl apply -k manifests/overlays/local` or of `helm install` with the same
// three local settings (image, never pulled, the node's toleration). Used by
// `npm run cluster -- up --node --install`, the demo and the installed-product tests.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { CONFIGHASH_IMAGE } from './confighash-image.ts';
import { NODE_TOLERATION } from './node.ts';
import { kubectl, run, waitFor } from '../support/kube.ts';

export type InstallMethod = 'kustomize' | 'helm';
export const INSTALL_METHODS: readonly InstallMethod[] = ['kustomize', 'helm'];

export const NAMESPACE = 'confighash-system';
const ROOT = join(import.meta.dirname, '..', '..');
export const LOCAL_OVERLAY = join(ROOT, 'manifests', 'overlays', 'local');
export const CHART = join(ROOT, 'charts', 'confighash');
const RELOAD_COMPONENT = join(ROOT, 'manifests', 'components', 'reload-in-place');

/** What an install turns on beyond the defaults. */
export interface InstallOptions {
  /** Reload in place: the reload-in-place component, or the chart's reloadInPlace.enabled. */
  reloadInPlace?: boolean;
}
const READY_TIMEOUT_MS = 180_000;

/** The chart's values for the local node: what the overlay sets for kustomize. */
export function localChartValues(): string[] {
  const [repository = '', tag = ''] = CONFIGHASH_IMAGE.split(/:(?=[^:]+$)/);
  return [
    '--set',
    `image.repository=${repository}`,
    '--set',
    `image.tag=${tag}`,
    '--set',
    'image.pullPolicy=Never',
    '--set-json',
    `tolerations=${JSON.stringify([NODE_TOLERATION])}`,
  ];
}

/** Installs confighash, and returns once it serves: see waitServing(). */
export async function install(method: InstallMethod, options: InstallOptions = {}): Promise<void> {
  if (method === 'kustomize') await kubectl(['apply', '-k', kustomization(options)]);
  else
    await run('helm', [
      'install',
      'confighash',
      CHART,
      '--namespace',
      NAMESPACE,
      '--create-namespace',
      ...localChartValues(),
      ...(options.reloadInPlace ? ['--set', 'reloadInPlace.enabled=true'] : []),
    ]);
  await waitServing();
}

/** Removes confighash the way its docs say: `kubectl delete -k` of the overlay, or `helm uninstall`. */
export async function uninstall(method: InstallMethod, options: InstallOptions = {}): Promise<void> {
  if (method === 'kustomize')
    await kubectl(['delete', '-k', kustomization(options), '--ignore-not-found', '--wait=true']);
  else await run('helm', ['uninstall', 'confighash', '--namespace', NAMESPACE, '--wait']);
}

/**
 * The local overlay, with the reload-in-place component when asked for: an
 * overlay of it in a temporary directory, as a user's own overlay would add the
 * component (kustomize takes only relative paths).
 */
function kustomization(options: InstallOptions): string {
  if (!options.reloadInPlace) return LOCAL_OVERLAY;
  const dir = mkdtempSync(join(tmpdir(), 'confighash-overlay-'));
  writeFileSync(
    join(dir, 'kustomization.yaml'),
    [
      'apiVersion: kustomize.config.k8s.io/v1beta1',
      'kind: Kustomization',
      `resources: [${relative(dir, LOCAL_OVERLAY)}]`,
      `components: [${relative(dir, RELOAD_COMPONENT)}]`,
      '',
    ].join('\n'),
  );
  return dir;
}

export interface WebhookClientConfig {
  url?: string;
  service?: { name: string; namespace: string; port?: number; path?: string };
  caBundle?: string;
}

/** The client configuration of confighash's one webhook, once confighash has written it. */
export async function webhookClientConfig(): Promise<WebhookClientConfig | undefined> {
  const configuration = JSON.parse(
    (await kubectl(['get', 'mutatingwebhookconfiguration', 'confighash', '-o', 'json', '--ignore-not-found'])) || '{}',
  ) as { webhooks?: { clientConfig: WebhookClientConfig }[] };
  return configuration.webhooks?.[0]?.clientConfig;
}

/**
 * Until the Deployment's replicas are all updated and Ready and confighash has written
 * its webhook (the Service, with the CA it manages) — what "installed" means.
 */
export async function waitServing(): Promise<void> {
  await kubectl([
    'rollout',
    'status',
    'deployment/confighash',
    '-n',
    NAMESPACE,
    `--timeout=${READY_TIMEOUT_MS / 1000}s`,
  ]);
  await waitFor(
    'confighash to register its webhook by Service, with its CA',
    async () => {
      const client = await webhookClientConfig();
      return client?.service && client.caBundle ? true : undefined;
    },
    READY_TIMEOUT_MS,
  );
}
