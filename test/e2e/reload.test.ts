// The reload strategy on the local control plane, counted in revisions: the
// webhook injects the agent into a `reload` Deployment and into no other; a
// change only the agent can deliver rolls nothing; an env key rolls once, and so
// does a change of both; removing the annotation rolls once and removes the agent;
// a new agent image rolls nothing. (What running pods serve: test/e2e-node/.)
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startConfighashForTest } from '../support/confighash.ts';
import { getWorkload, type KubeEvent, templateAnnotations } from '../support/kube-objects.ts';
import { apply, kubectl, kubectlJson, kubectlStderr, testNamespace } from '../support/kube.ts';
import { settledRevisions, waitForRevisions } from '../support/rollouts.ts';
import { configMap, workload } from '../support/workloads.ts';

const ENABLED = { 'confighash.dev/enabled': 'true' };
const RELOAD = { 'confighash.dev/reload': 'signal:SIGHUP' };

/** Reads LEVEL from configmap/env by env and configmap/app as a file; runs as user 1000. */
function app(annotations: Record<string, string> = RELOAD): object {
  const manifest = workload(
    'Deployment',
    'web',
    {
      env: [{ name: 'LEVEL', valueFrom: { configMapKeyRef: { name: 'env', key: 'LEVEL' } } }],
      volumeMounts: [{ name: 'config', mountPath: '/etc/app' }],
    },
    { annotations, volumes: [{ name: 'config', configMap: { name: 'app' } }] },
  ) as { spec: { template: { spec: Record<string, unknown> } } };
  manifest.spec.template.spec['securityContext'] = { runAsUser: 1000 };
  return manifest;
}

interface PodSpec {
  initContainers?: { name: string; image: string }[];
  shareProcessNamespace?: boolean;
}

async function podSpec(ns: string): Promise<PodSpec> {
  return (await kubectlJson<{ spec: { template: { spec: PodSpec } } }>(['get', 'deployment', 'web', '-n', ns])).spec
    .template.spec;
}

const patch = (ns: string, data: Record<string, string>, name: string): Promise<string> =>
  kubectl(['patch', 'configmap', name, '-n', ns, '--type=merge', '-p', JSON.stringify({ data })]);

describe('reload strategy', () => {
  it('injects the agent into a reload Deployment and no other, and stamps only what rolls', async (t) => {
    await startConfighashForTest(t);
    const ns = await testNamespace(t, ENABLED);
    await apply(ns, configMap('env', { LEVEL: 'info' }), configMap('app', { 'app.conf': 'a' }), app());
    const spec = await podSpec(ns);
    assert.deepEqual(
      spec.initContainers?.map((c) => [c.name, c.image]),
      [['confighash-agent', 'confighash.dev/confighash:local']],
    );
    assert.equal(spec.shareProcessNamespace, true);
    assert.match(
      templateAnnotations(await getWorkload(ns, 'Deployment', 'web'))['confighash.dev/sources'] ?? '',
      /^configmap\/env=[0-9a-f]{12}$/,
    );

    await apply(ns, workload('Deployment', 'plain', { envFrom: [{ configMapRef: { name: 'env' } }] }));
    assert.equal(
      (await kubectlJson<{ spec: { template: { spec: PodSpec } } }>(['get', 'deployment', 'plain', '-n', ns])).spec
        .template.spec.initContainers,
      undefined,
    );
  });

  it('rolls nothing for a reloaded file, once for an env key, and once for a change of both', async (t) => {
    const confighash = await startConfighashForTest(t, ['--coalesce-window=500ms']);
    const ns = await testNamespace(t, ENABLED);
    await apply(ns, configMap('env', { LEVEL: 'info' }), configMap('app', { 'app.conf': 'a' }), app());
    assert.equal(await settledRevisions(ns, 'Deployment', 'web', confighash.metricsUrl), 1);

    await patch(ns, { 'app.conf': 'b' }, 'app');
    assert.equal(
      await settledRevisions(ns, 'Deployment', 'web', confighash.metricsUrl),
      1,
      'a reloaded file rolled the workload',
    );

    await patch(ns, { LEVEL: 'debug' }, 'env');
    await waitForRevisions(ns, 'Deployment', 'web', 2);
    assert.equal(await settledRevisions(ns, 'Deployment', 'web', confighash.metricsUrl), 2);

    await Promise.all([patch(ns, { LEVEL: 'warn' }, 'env'), patch(ns, { 'app.conf': 'c' }, 'app')]);
    await waitForRevisions(ns, 'Deployment', 'web', 3);
    assert.equal(
      await settledRevisions(ns, 'Deployment', 'web', confighash.metricsUrl),
      3,
      'a change of both rolled more than once',
    );
    const events = (
      await kubectlJson<{ items: KubeEvent[] }>(['get', 'events', '-n', ns, '--field-selector', 'reason=ConfigChanged'])
    ).items;
    assert.equal(
      events.reduce((n, e) => n + (e.count ?? 1), 0),
      2,
    );
  });

  it('removing the annotation rolls once and removes the agent; a new agent image rolls nothing', async (t) => {
    const confighash = await startConfighashForTest(t);
    const ns = await testNamespace(t, ENABLED);
    await apply(ns, configMap('env', { LEVEL: 'info' }), configMap('app', { 'app.conf': 'a' }), app());
    assert.equal(await settledRevisions(ns, 'Deployment', 'web', confighash.metricsUrl), 1);

    await confighash.stop();
    const upgraded = await startConfighashForTest(t, ['--agent-image=confighash.dev/confighash:next']);
    // Updates through the webhook that change nothing of the template: a replace without the agent, a scale.
    await kubectl(['replace', '-n', ns, '-f', '-'], JSON.stringify(app()));
    await kubectl(['scale', 'deployment', 'web', '-n', ns, '--replicas=2']);
    assert.equal(
      await settledRevisions(ns, 'Deployment', 'web', upgraded.metricsUrl),
      1,
      'the upgrade rolled the workload',
    );
    assert.equal(
      (await podSpec(ns)).initContainers?.[0]?.image,
      'confighash.dev/confighash:local',
      'the agent is stamped once',
    );

    await kubectl(['annotate', 'deployment', 'web', '-n', ns, 'confighash.dev/reload-']);
    await waitForRevisions(ns, 'Deployment', 'web', 2);
    assert.equal(await settledRevisions(ns, 'Deployment', 'web', upgraded.metricsUrl), 2);
    const spec = await podSpec(ns);
    assert.deepEqual([spec.initContainers, spec.shareProcessNamespace], [undefined, undefined]);
    assert.match(
      templateAnnotations(await getWorkload(ns, 'Deployment', 'web'))['confighash.dev/sources'] ?? '',
      /^configmap\/app=[0-9a-f]{12},configmap\/env=/,
    );
  });

  it('says why, and rolls as before, when it cannot make a workload reloadable', async (t) => {
    await startConfighashForTest(t);
    const ns = await testNamespace(t, ENABLED);
    const unknownUser = app() as { spec: { template: { spec: Record<string, unknown> } } };
    delete unknownUser.spec.template.spec['securityContext'];
    await apply(ns, configMap('env', { LEVEL: 'info' }), configMap('app', { 'app.conf': 'a' }));
    const warnings = await kubectlStderr(['apply', '-n', ns, '-f', '-'], JSON.stringify(unknownUser));
    assert.match(
      warnings,
      /not reloaded in place, every change rolls the workload: to send signal:SIGHUP, the agent runs as the app's user/,
    );
    assert.equal((await podSpec(ns)).initContainers, undefined);
    assert.match(
      templateAnnotations(await getWorkload(ns, 'Deployment', 'web'))['confighash.dev/sources'] ?? '',
      /^configmap\/app=[0-9a-f]{12},configmap\/env=/,
    );
  });
});
