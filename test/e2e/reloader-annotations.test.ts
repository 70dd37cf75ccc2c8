// stakater Reloader's annotations on the local control plane, in a namespace
// without confighash's label, on the examples of Reloader's documentation: each
// annotation rolls what it says, exactly once per change, and key-scoped where
// the pod spec names the keys it consumes, whether the annotation is on the
// workload or on its pod template; a workload without them is left alone.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MigrationEntry } from '../../src/cli/migration.ts';
import { confighashCli, startConfighashForTest } from '../support/confighash.ts';
import { getWorkload, templateAnnotations } from '../support/kube-objects.ts';
import { apply, kubectl, testNamespace } from '../support/kube.ts';
import { settledRevisions, waitForRevisions } from '../support/rollouts.ts';
import { configMap, secret, workload } from '../support/workloads.ts';

const ANNOTATIONS: Record<string, Record<string, string>> = {
  auto: { 'reloader.stakater.com/auto': 'true' },
  'configmap-auto': { 'configmap.reloader.stakater.com/auto': 'true' },
  'secret-auto': { 'secret.reloader.stakater.com/auto': 'true' },
  'configmap-reload': { 'configmap.reloader.stakater.com/reload': 'unreferenced' },
  'secret-reload': { 'secret.reloader.stakater.com/reload': 'foo-secret' },
  'configmap-reload-pattern': { 'configmap.reloader.stakater.com/reload': 'foo-config.*' },
  search: { 'reloader.stakater.com/search': 'true' },
  ignore: { 'reloader.stakater.com/auto': 'true' },
  exclude: { 'reloader.stakater.com/auto': 'true', 'configmaps.exclude.reloader.stakater.com/reload': 'excluded' },
  'secret-exclude': {
    'reloader.stakater.com/auto': 'true',
    'secrets.exclude.reloader.stakater.com/reload': 'foo-secret',
  },
  plain: {},
};

/** Reloader reads its annotations from the pod template too. */
const TEMPLATE_ANNOTATIONS: Record<string, Record<string, string>> = {
  'template-auto': { 'reloader.stakater.com/auto': 'true' },
  'template-secret-reload': { 'secret.reloader.stakater.com/reload': 'foo-secret' },
};

/** Every workload consumes LEVEL of foo-configmap and all of foo-secret; some one more ConfigMap. */
function app(name: string): object {
  const extra = { search: 'matched', ignore: 'ignored', exclude: 'excluded' }[name];
  const onTemplate = TEMPLATE_ANNOTATIONS[name];
  const object = workload(
    'Deployment',
    name,
    {
      env: [{ name: 'LEVEL', valueFrom: { configMapKeyRef: { name: 'foo-configmap', key: 'LEVEL' } } }],
      envFrom: [{ secretRef: { name: 'foo-secret' } }, ...(extra ? [{ configMapRef: { name: extra } }] : [])],
    },
    { annotations: ANNOTATIONS[name] ?? {} },
  ) as { spec: { template: { metadata: Record<string, unknown> } } };
  if (onTemplate) object.spec.template.metadata['annotations'] = onTemplate;
  return object;
}

const annotated = (object: object, annotations: Record<string, string>): object => ({
  ...object,
  metadata: { ...(object as { metadata: object }).metadata, annotations },
});
const patchConfigMap = (ns: string, name: string, data: Record<string, string>): Promise<string> =>
  kubectl(['patch', 'configmap', name, '-n', ns, '--type=merge', '-p', JSON.stringify({ data })]);

describe('Reloader annotations', () => {
  it('each rolls what Reloader documents, once per change, in a namespace without the opt-in label', async (t) => {
    const confighash = await startConfighashForTest(t, ['--coalesce-window=0']);
    const ns = await testNamespace(t);
    await apply(
      ns,
      configMap('foo-configmap', { LEVEL: 'info', OTHER: 'a' }),
      secret('foo-secret', { PASSWORD: 'a' }),
      configMap('unreferenced', { VALUE: 'a' }),
      annotated(configMap('matched', { VALUE: 'a' }), { 'reloader.stakater.com/match': 'true' }),
      annotated(configMap('ignored', { VALUE: 'a' }), { 'reloader.stakater.com/ignore': 'true' }),
      configMap('excluded', { VALUE: 'a' }),
      ...[...Object.keys(ANNOTATIONS), ...Object.keys(TEMPLATE_ANNOTATIONS)].map(app),
    );
    const names = [...Object.keys(ANNOTATIONS), ...Object.keys(TEMPLATE_ANNOTATIONS)];
    const revisions = async (): Promise<Record<string, number>> => {
      const counts: Record<string, number> = {};
      for (const name of names) counts[name] = await settledRevisions(ns, 'Deployment', name, confighash.metricsUrl);
      return counts;
    };
    assert.deepEqual(
      Object.values(await revisions()),
      names.map(() => 1),
      'a rollout on create',
    );
    // The webhook is not called outside the selected namespaces: the controller adopts these, which rolls nothing.
    assert.match(
      (await getWorkload(ns, 'Deployment', 'auto')).metadata.annotations?.['confighash.dev/baseline'] ?? '',
      /^v2:/,
      'adopted',
    );
    const plain = await getWorkload(ns, 'Deployment', 'plain');
    assert.deepEqual(
      [plain.metadata.annotations?.['confighash.dev/baseline'], templateAnnotations(plain)['confighash.dev/checksum']],
      [undefined, undefined],
      'a workload without the annotations, in a namespace without the label',
    );

    const expected: Record<string, number> = Object.fromEntries(names.map((name) => [name, 1]));
    /** Makes a change, and waits for the workloads it should roll. */
    const step = async (change: () => Promise<unknown>, rolls: string[]): Promise<void> => {
      await change();
      for (const name of rolls) {
        expected[name] = (expected[name] ?? 1) + 1;
        await waitForRevisions(ns, 'Deployment', name, expected[name] ?? 1);
      }
    };
    await step(() => patchConfigMap(ns, 'foo-configmap', { OTHER: 'b' }), []);
    await step(
      () => patchConfigMap(ns, 'foo-configmap', { LEVEL: 'debug' }),
      ['auto', 'configmap-auto', 'ignore', 'exclude', 'secret-exclude', 'template-auto', 'configmap-reload-pattern'],
    );
    await step(
      () =>
        kubectl(['patch', 'secret', 'foo-secret', '-n', ns, '-p', JSON.stringify({ stringData: { PASSWORD: 'b' } })]),
      ['auto', 'secret-auto', 'secret-reload', 'ignore', 'exclude', 'template-auto', 'template-secret-reload'],
    );
    await step(() => patchConfigMap(ns, 'unreferenced', { VALUE: 'b' }), ['configmap-reload']);
    await step(() => patchConfigMap(ns, 'matched', { VALUE: 'b' }), ['search']);
    await step(() => patchConfigMap(ns, 'ignored', { VALUE: 'b' }), []);
    await step(() => patchConfigMap(ns, 'excluded', { VALUE: 'b' }), []);
    // ConfigMap events arrive in order: once this one has rolled `auto`, every change above was seen.
    await step(
      () => patchConfigMap(ns, 'foo-configmap', { LEVEL: 'warn' }),
      ['auto', 'configmap-auto', 'ignore', 'exclude', 'secret-exclude', 'template-auto', 'configmap-reload-pattern'],
    );
    assert.deepEqual(await revisions(), expected);

    const report = JSON.parse(await confighashCli(['migrate-check', '-n', ns, '-o', 'json'])) as MigrationEntry[];
    assert.deepEqual(
      report.map((e) => e.name).sort(),
      names.filter((n) => n !== 'plain').sort(),
      'every workload with Reloader annotations, and only those',
    );
    const auto = report.find((e) => e.name === 'auto');
    assert.deepEqual(auto?.counts, ['configmap/foo-configmap (keys LEVEL)', 'secret/foo-secret (every key)']);
    assert.ok(
      auto.notes.some((n) => n.startsWith('its namespace is not selected')),
      JSON.stringify(auto.notes),
    );
    assert.ok(auto.notes.some((n) => n.startsWith('rolls only when a consumed key changes')));
    assert.deepEqual(report.find((e) => e.name === 'configmap-reload')?.counts, ['configmap/unreferenced (every key)']);
    assert.deepEqual(report.find((e) => e.name === 'template-secret-reload')?.reloader, [
      'secret.reloader.stakater.com/reload=foo-secret (on the pod template)',
    ]);
  });
});
