// The install manifests: they apply, their RBAC grants exactly what confighash
// uses (checked against rbac-expectations.json), and confighash works under its
// ServiceAccount with nothing more.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, it, type TestContext } from 'node:test';
import { loadAllYaml } from '@kubernetes/client-node';
import { CONFIGHASH_NAMESPACE, startConfighashForTest } from '../support/confighash.ts';
import {
  assertRbacExpectations,
  installManifests,
  installReloadInPlaceRbac,
  serviceAccountKubeconfig,
} from '../support/install.ts';
import { getWorkload, templateAnnotations } from '../support/kube-objects.ts';
import { apply, kubectl, testNamespace } from '../support/kube.ts';
import { settledRevisions, waitForRevisions } from '../support/rollouts.ts';
import { configMap, workload } from '../support/workloads.ts';

const MANIFESTS = join(import.meta.dirname, '..', '..', 'manifests');
const CRD_KINDS = new Set(['Certificate', 'Issuer', 'ServiceMonitor']);

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
}

/** The overlay's objects, and its YAML document by document (applied as written: client-node's models rename fields, `from` to `_from`). */
async function render(dir: string): Promise<{ objects: Manifest[]; documents: string[] }> {
  const yaml = await kubectl(['kustomize', dir]);
  return { objects: loadAllYaml(yaml) as Manifest[], documents: yaml.split(/^---$/m) };
}

/** Installs the base's RBAC and ServiceAccount for real; removed when the test ends. */
async function installBase(t: TestContext): Promise<void> {
  t.after(await installManifests());
}

describe('install manifests', () => {
  // A server-side dry run cannot create namespaced objects in a namespace it only
  // pretends to create: like a real first install, the namespace must exist.
  before(() =>
    kubectl(['create', 'namespace', CONFIGHASH_NAMESPACE, '--dry-run=client', '-o', 'json']).then((ns) =>
      kubectl(['apply', '-f', '-'], ns),
    ),
  );

  it('apply to the local control plane (server-side dry run)', async () => {
    const out = await kubectl(['apply', '-k', MANIFESTS, '--dry-run=server']);
    for (const kind of [
      'namespace',
      'serviceaccount',
      'clusterrole',
      'deployment',
      'networkpolicy',
      'mutatingwebhookconfiguration',
    ]) {
      assert.match(
        out,
        new RegExp(`^${kind}[^ ]*/confighash(-system)? (created|configured|unchanged) \\(server dry run\\)$`, 'm'),
      );
    }
  });

  for (const overlay of ['cert-manager', 'prometheus']) {
    it(`overlay ${overlay}: its core objects apply (server dry run), and its custom resources are well-formed`, async () => {
      const { objects, documents } = await render(join(MANIFESTS, 'overlays', overlay));
      const core = documents.filter((document) => !CRD_KINDS.has(/^kind: (\w+)$/m.exec(document)?.[1] ?? ''));
      await kubectl(['apply', '--dry-run=server', '-f', '-'], core.join('---\n'));
      const custom = objects.filter((o) => CRD_KINDS.has(o.kind));
      assert.ok(custom.length > 0);
      for (const object of custom) checkCustomResource(object, objects);
    });
  }

  it('apply after `confighash run --webhook-url` registered the webhook, and it registers after they were applied', async (t) => {
    const webhookConfiguration = join(MANIFESTS, 'base', 'mutatingwebhookconfiguration.yaml');
    const first = await startConfighashForTest(t);
    const url = await kubectl([
      'get',
      'mutatingwebhookconfiguration',
      'confighash',
      '-o',
      'jsonpath={.webhooks[0].clientConfig.url}',
    ]);
    assert.match(url, /^https:\/\/127\.0\.0\.1:\d+\/mutate$/);
    await kubectl(['apply', '-k', MANIFESTS, '--dry-run=server']);
    await kubectl(['apply', '-f', webhookConfiguration]);
    assert.equal(
      await kubectl([
        'get',
        'mutatingwebhookconfiguration',
        'confighash',
        '-o',
        'jsonpath={.webhooks[0].clientConfig.url}',
      ]),
      url,
      'the apply left the registration alone',
    );

    await first.stop();
    await kubectl(['delete', 'mutatingwebhookconfiguration', 'confighash']);
    await kubectl(['apply', '-f', webhookConfiguration]);
    await startConfighashForTest(t);
    await kubectl(['apply', '-f', webhookConfiguration]);
    assert.match(
      await kubectl([
        'get',
        'mutatingwebhookconfiguration',
        'confighash',
        '-o',
        'jsonpath={.webhooks[0].clientConfig.url}',
      ]),
      /^https:/,
    );
  });

  it('grant exactly the permissions in rbac-expectations.json: no pod and no log is readable without reload in place', async (t) => {
    await installBase(t);
    await assertRbacExpectations();
    assert.match(
      await kubectl(['kustomize', join(MANIFESTS, 'overlays', 'reload-in-place')]),
      /name: CONFIGHASH_RELOAD_IN_PLACE\n\s+value: "true"/,
      'the component turns the feature on with its permissions',
    );
    t.after(await installReloadInPlaceRbac());
    await assertRbacExpectations('reloadInPlace');
  });

  it('run confighash under its ServiceAccount with exactly those permissions', async (t) => {
    const uninstall = await installManifests();
    const kubeconfig = await serviceAccountKubeconfig();
    // Removed after confighash stops (hooks run in order): a leader without RBAC could not release its Lease.
    const confighash = await startConfighashForTest(t, [
      `--kubeconfig=${kubeconfig}`,
      '--leader-elect',
      '--coalesce-window=1s',
    ]).finally(() => {
      t.after(uninstall);
    });
    const ns = await testNamespace(t, { 'confighash.dev/enabled': 'true' });
    await apply(
      ns,
      configMap('app', { a: '1' }),
      workload('Deployment', 'web', { envFrom: [{ configMapRef: { name: 'app' } }] }),
    );
    assert.match(
      templateAnnotations(await getWorkload(ns, 'Deployment', 'web'))['confighash.dev/sources'] ?? '',
      /^configmap\/app=/,
    );
    assert.equal(await settledRevisions(ns, 'Deployment', 'web', confighash.metricsUrl), 1);

    await kubectl(['patch', 'configmap', 'app', '-n', ns, '--type=merge', '-p', '{"data":{"a":"2"}}']);
    await waitForRevisions(ns, 'Deployment', 'web', 2);
    assert.equal(await settledRevisions(ns, 'Deployment', 'web', confighash.metricsUrl), 2);
    // An RBAC denial reads `… is forbidden: User "…" cannot <verb> resource …`.
    assert.equal(
      confighash.logs.some((line) => /forbidden: User ".*" cannot /.test(line)),
      false,
      'no permission was missing',
    );
  });
});

function checkCustomResource(object: Manifest, all: Manifest[]): void {
  const spec = object.spec ?? {};
  if (object.kind === 'Certificate') {
    assert.equal(object.apiVersion, 'cert-manager.io/v1');
    if (spec['isCA'] !== true) checkServingCertificate(object, all);
  } else if (object.kind === 'Issuer') {
    assert.equal(object.apiVersion, 'cert-manager.io/v1');
    assert.ok(spec['selfSigned'] ?? spec['ca']);
  } else {
    assert.equal(object.apiVersion, 'monitoring.coreos.com/v1');
    assert.deepEqual(spec['endpoints'], [{ port: 'metrics', path: '/metrics', interval: '30s' }]);
  }
}

/**
 * The serving certificate is mounted and served with --cert-dir, its CA is what
 * the webhook trusts, and it comes from a CA Issuer whose CA keeps its key: renewing
 * the serving certificate never changes the CA bundle (no window of distrust).
 */
/** The Certificate's issuer is a CA Issuer whose CA never changes its key. */
function checkIssuedByStableCa(spec: Record<string, unknown>, all: Manifest[]): void {
  const issuerName = (spec['issuerRef'] as { name: string }).name;
  const issuer = all.find((o) => o.kind === 'Issuer' && o.metadata.name === issuerName);
  const caSecret = (issuer?.spec?.['ca'] as { secretName?: string } | undefined)?.secretName;
  assert.ok(caSecret, 'the serving certificate is issued by a CA Issuer, not self-signed');
  const ca = all.find((o) => o.kind === 'Certificate' && o.spec?.['secretName'] === caSecret);
  const caSpec = ca?.spec as { isCA?: boolean; privateKey?: { rotationPolicy?: string } } | undefined;
  assert.equal(caSpec?.isCA, true);
  assert.equal(caSpec.privateKey?.rotationPolicy, 'Never', 'a renewed CA keeps its key');
}

function checkServingCertificate(certificate: Manifest, all: Manifest[]): void {
  const spec = certificate.spec ?? {};
  assert.deepEqual(spec['dnsNames'], [
    'confighash.confighash-system.svc',
    'confighash.confighash-system.svc.cluster.local',
  ]);
  const deployment = all.find((o) => o.kind === 'Deployment');
  const podSpec = JSON.stringify(deployment?.spec);
  assert.match(
    podSpec,
    new RegExp(`"secretName":"${String(spec['secretName'])}"`),
    'the Deployment mounts the Certificate',
  );
  assert.match(podSpec, /--cert-dir=\/etc\/confighash\/tls/);
  const webhook = all.find((o) => o.kind === 'MutatingWebhookConfiguration');
  assert.equal(
    webhook?.metadata.annotations?.['cert-manager.io/inject-ca-from'],
    `confighash-system/${certificate.metadata.name}`,
  );

  checkIssuedByStableCa(spec, all);
}
