// confighash's selectors on the local control plane, as Reloader users know them
// from its flags: --namespace-selector chooses the namespaces by their labels (and
// the webhook's namespaceSelector follows), --ignore-namespaces leaves some out
// whatever their labels, and --resource-label-selector makes only labelled
// ConfigMaps and Secrets count.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startConfighashForTest } from '../support/confighash.ts';
import { getWorkload, templateAnnotations } from '../support/kube-objects.ts';
import { apply, kubectl, kubectlJson, testNamespace } from '../support/kube.ts';
import { barrier, settledRevisions, waitForRevisions } from '../support/rollouts.ts';
import { configMap, workload } from '../support/workloads.ts';

const app = (): object =>
  workload('Deployment', 'web', { envFrom: [{ configMapRef: { name: 'app' } }, { configMapRef: { name: 'extra' } }] });
const change = (ns: string, name: string, value: string): Promise<string> =>
  kubectl(['patch', 'configmap', name, '-n', ns, '--type=merge', '-p', JSON.stringify({ data: { VALUE: value } })]);

describe('selectors', () => {
  it('--namespace-selector and --ignore-namespaces choose the namespaces, for the webhook and the controller', async (t) => {
    const payments = await testNamespace(t, { team: 'payments' });
    const labelled = await testNamespace(t, { 'confighash.dev/enabled': 'true' });
    const ignored = await testNamespace(t, { team: 'payments' });
    // Without Reloader's annotations, which would make confighash track their workloads in any namespace.
    const confighash = await startConfighashForTest(
      t,
      [
        '--coalesce-window=0',
        '--namespace-selector=team in (payments)',
        `--ignore-namespaces=${ignored}`,
        '--reloader-annotations=false',
      ],
      { probeNamespace: payments },
    );
    for (const ns of [payments, labelled, ignored])
      await apply(ns, configMap('app', { VALUE: 'a' }), configMap('extra', { VALUE: 'a' }), app());
    const stamped = async (ns: string): Promise<boolean> =>
      templateAnnotations(await getWorkload(ns, 'Deployment', 'web'))['confighash.dev/checksum'] !== undefined;
    assert.deepEqual([await stamped(payments), await stamped(labelled), await stamped(ignored)], [true, false, false]);

    for (const ns of [payments, labelled, ignored]) await change(ns, 'app', 'b');
    await waitForRevisions(payments, 'Deployment', 'web', 2);
    assert.equal(await settledRevisions(payments, 'Deployment', 'web', confighash.metricsUrl), 2);
    // One watch of every namespace's ConfigMaps: past the barrier, the other changes were seen too.
    await barrier(payments, 'configmap', confighash.metricsUrl);
    for (const ns of [labelled, ignored])
      assert.equal(await settledRevisions(ns, 'Deployment', 'web', confighash.metricsUrl), 1, `rolled in ${ns}`);
    const configuration = await kubectlJson<{ webhooks: { namespaceSelector: object }[] }>([
      'get',
      'mutatingwebhookconfiguration',
      'confighash',
    ]);
    assert.deepEqual(configuration.webhooks[0]?.namespaceSelector, {
      matchExpressions: [
        { key: 'team', operator: 'In', values: ['payments'] },
        {
          key: 'kubernetes.io/metadata.name',
          operator: 'NotIn',
          values: ['confighash-system', ignored, 'kube-system'].sort(),
        },
      ],
    });
  });

  it('--resource-label-selector: only labelled sources count; labelling one counts it from then on', async (t) => {
    const confighash = await startConfighashForTest(t, [
      '--coalesce-window=0',
      '--resource-label-selector=confighash=watched',
    ]);
    const ns = await testNamespace(t, { 'confighash.dev/enabled': 'true' });
    const watched = {
      ...configMap('app', { VALUE: 'a' }),
      metadata: { name: 'app', labels: { confighash: 'watched' } },
    };
    await apply(ns, watched, configMap('extra', { VALUE: 'a' }), app());
    assert.equal(await settledRevisions(ns, 'Deployment', 'web', confighash.metricsUrl), 1);

    const sourcesAnnotation = async (): Promise<string> =>
      templateAnnotations(await getWorkload(ns, 'Deployment', 'web'))['confighash.dev/sources'] ?? '';
    const before = await sourcesAnnotation();
    // The unlabelled source's edit, then the labelled one's: one rollout, whose stamp has the first source as it was.
    await change(ns, 'extra', 'b');
    await change(ns, 'app', 'b');
    await waitForRevisions(ns, 'Deployment', 'web', 2);
    assert.equal(await settledRevisions(ns, 'Deployment', 'web', confighash.metricsUrl), 2);
    const after = await sourcesAnnotation();
    const digestOf = (summary: string, id: string): string | undefined =>
      summary.split(',').find((entry) => entry.startsWith(`${id}=`));
    assert.equal(
      digestOf(after, 'configmap/extra'),
      digestOf(before, 'configmap/extra'),
      'the unlabelled source counted',
    );
    assert.notEqual(digestOf(after, 'configmap/app'), digestOf(before, 'configmap/app'));

    await kubectl(['label', 'configmap', 'extra', '-n', ns, 'confighash=watched']);
    await waitForRevisions(ns, 'Deployment', 'web', 3);
    assert.equal(
      await settledRevisions(ns, 'Deployment', 'web', confighash.metricsUrl),
      3,
      'once, for the source now counted',
    );
  });
});
