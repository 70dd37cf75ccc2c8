// The webhook's answers to bad input, and its fail-open answer when it cannot
// read a workload's configuration.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  CONFIGHASH_NAMESPACE,
  type ConfighashProcess,
  metricValue,
  startConfighash,
  startConfighashForTest,
} from '../support/confighash.ts';
import { post, publishedCaBundle } from '../support/https.ts';
import { getWorkload, templateAnnotations } from '../support/kube-objects.ts';
import { apply, kubectl, kubectlStderr, testNamespace } from '../support/kube.ts';
import { configMap, secret, workload } from '../support/workloads.ts';

const review = (request: object): string =>
  JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request });

describe('webhook requests', () => {
  let confighash: ConfighashProcess;
  let ca: string;
  before(async () => {
    confighash = await startConfighash();
    ca = await publishedCaBundle();
  });
  after(() => confighash.cleanup());

  const cases: { name: string; body: string | Buffer; contentType?: string; status: number; message: RegExp }[] = [
    { name: 'non-JSON', body: '{not json', status: 400, message: /JSON/ },
    { name: 'an empty body', body: '', status: 400, message: /empty/i },
    { name: 'a JSON array', body: '[]', status: 400, message: /AdmissionReview/ },
    {
      name: 'the wrong apiVersion',
      body: JSON.stringify({ apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', request: { uid: 'u' } }),
      status: 400,
      message: /expected apiVersion admission\.k8s\.io\/v1 and kind AdmissionReview, got "admission\.k8s\.io\/v1beta1"/,
    },
    {
      name: 'no request.uid',
      body: review({ kind: { group: 'apps', version: 'v1', kind: 'Deployment' } }),
      status: 400,
      message: /no uid/,
    },
    {
      name: 'the wrong content type',
      body: review({ uid: 'u' }),
      contentType: 'text/plain',
      status: 415,
      message: /text\/plain/,
    },
    {
      name: 'a Deployment whose containers are an object',
      body: review({
        uid: 'u',
        kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
        operation: 'CREATE',
        object: { spec: { template: { spec: { containers: { name: 'a' } } } } },
      }),
      status: 400,
      message: /request\.object\.spec\.template\.spec\.containers must be an array, got an object/,
    },
    {
      name: 'a Deployment with a null container',
      body: review({
        uid: 'u',
        kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
        operation: 'CREATE',
        object: { spec: { template: { spec: { containers: [null] } } } },
      }),
      status: 400,
      message: /containers\[0\] must be an object, got null/,
    },
    {
      name: 'objects nested 10,000 deep',
      // Written as text: serialising it would overflow this process's stack too.
      body: review({
        uid: 'u',
        kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
        operation: 'UPDATE',
        object: {},
      }).replace('"object":{}', `"object":${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`),
      status: 400,
      message: /nested deeper than 100 levels/,
    },
    {
      name: 'a body over 7 MiB',
      body: Buffer.alloc(8 * 1024 * 1024, 0x20),
      status: 413,
      message: /too large|exceeded/i,
    },
  ];
  for (const { name, body, contentType, status, message } of cases) {
    it(`answers ${name} with HTTP ${status} and a clear message`, async () => {
      const result = await post(confighash.webhookUrl, ca, body, contentType ? { contentType } : {});
      assert.equal(result.status, status, result.body);
      assert.match((JSON.parse(result.body) as { message: string }).message, message);
    });
  }

  it('keeps serving after bad input, and allows kinds it does not handle without a patch', async () => {
    const result = await post(
      confighash.webhookUrl,
      ca,
      review({ uid: 'abc', kind: { group: '', version: 'v1', kind: 'ConfigMap' }, operation: 'CREATE', object: {} }),
    );
    assert.equal(result.status, 200);
    assert.deepEqual(JSON.parse(result.body), {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: 'abc', allowed: true },
    });
    assert.ok(
      (await metricValue(confighash.metricsUrl, 'confighash_webhook_requests_total{result="rejected"}')) >=
        cases.length,
    );
    assert.ok((await fetch(`${confighash.metricsUrl}/readyz`)).ok);
  });
});

describe('webhook without permission to read a Secret', () => {
  it('admits the workload unpatched, with a warning, a log line and a metric', async (t) => {
    const kubeconfig = await limitedKubeconfig(t.name);
    const confighash = await startConfighashForTest(t, [`--kubeconfig=${kubeconfig}`]);
    const ns = await testNamespace(t, { 'confighash.dev/enabled': 'true' });
    await apply(ns, configMap('app', { a: '1' }), secret('db', { password: 'hunter2' }));

    const manifest = workload('Deployment', 'web', {
      envFrom: [{ configMapRef: { name: 'app' } }, { secretRef: { name: 'db' } }],
    });
    const warnings = await kubectlStderr(['apply', '-n', ns, '-f', '-'], JSON.stringify(manifest));

    assert.match(warnings, /Warning: confighash: could not read configuration \(read secret .*\/db: HTTP 403/);
    assert.deepEqual(templateAnnotations(await getWorkload(ns, 'Deployment', 'web')), {});
    assert.ok((await metricValue(confighash.metricsUrl, 'confighash_webhook_requests_total{result="error"}')) >= 1);
    assert.ok(confighash.logs.some((line) => line.includes('could not read configuration')));
    assert.equal(
      confighash.logs.some((line) => line.includes('hunter2')),
      false,
    );
  });
});

/**
 * A kubeconfig for a ServiceAccount that may do what confighash needs, except
 * get a Secret outside confighash's namespace (it may still list and watch them,
 * as the controller does).
 */
async function limitedKubeconfig(name: string): Promise<string> {
  const account = 'confighash-limited';
  const rbac = [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: account, namespace: CONFIGHASH_NAMESPACE } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: account, namespace: CONFIGHASH_NAMESPACE },
      rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get', 'create', 'update'] }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: account },
      rules: [
        { apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: [''], resources: ['secrets', 'namespaces'], verbs: ['list', 'watch'] },
        { apiGroups: [''], resources: ['events'], verbs: ['create'] },
        {
          apiGroups: ['apps'],
          resources: ['deployments', 'statefulsets', 'daemonsets'],
          verbs: ['get', 'list', 'watch', 'patch'],
        },
        { apiGroups: ['batch'], resources: ['cronjobs'], verbs: ['get', 'list', 'watch', 'patch'] },
        {
          apiGroups: ['admissionregistration.k8s.io'],
          resources: ['mutatingwebhookconfigurations'],
          verbs: ['get', 'create', 'patch'],
        },
      ],
    },
    binding('RoleBinding', account, CONFIGHASH_NAMESPACE),
    binding('ClusterRoleBinding', account),
  ];
  await kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: rbac }));
  const token = (await kubectl(['create', 'token', account, '-n', CONFIGHASH_NAMESPACE, '--duration=1h'])).trim();
  const admin = JSON.parse(await kubectl(['config', 'view', '--raw', '-o', 'json'])) as {
    clusters: { cluster: Record<string, string> }[];
  };
  const cluster = admin.clusters[0]?.cluster ?? {};
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'local', cluster }],
    users: [{ name: account, user: { token } }],
    contexts: [{ name: 'limited', context: { cluster: 'local', user: account } }],
    'current-context': 'limited',
  };
  const path = join(tmpdir(), `confighash-${name.replace(/\W+/g, '-').slice(0, 40)}-${process.pid}.kubeconfig`);
  await writeFile(path, JSON.stringify(config), { mode: 0o600 });
  return path;
}

function binding(kind: 'RoleBinding' | 'ClusterRoleBinding', account: string, namespace?: string): object {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind,
    metadata: namespace ? { name: account, namespace } : { name: account },
    roleRef: {
      apiGroup: 'rbac.authorization.k8s.io',
      kind: kind === 'RoleBinding' ? 'Role' : 'ClusterRole',
      name: account,
    },
    subjects: [{ kind: 'ServiceAccount', name: account, namespace: CONFIGHASH_NAMESPACE }],
  };
}
