import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AGENT_CONTAINER, reloadDecision, reloadedVolumes } from './reload.ts';
import { consumedSources, type PodSpecLike, volumeSources } from './sources.ts';

const RELOAD = { 'confighash.dev/reload': 'signal:SIGHUP' };

function pod(mounts: object[], extra: Partial<PodSpecLike> = {}): PodSpecLike {
  return {
    containers: [
      {
        name: 'app',
        volumeMounts: mounts,
        env: [{ name: 'LEVEL', valueFrom: { configMapKeyRef: { name: 'env', key: 'LEVEL' } } }],
      },
    ],
    volumes: [
      { name: 'config', configMap: { name: 'app' } },
      { name: 'tls', secret: { secretName: 'tls' } },
      { name: 'both', projected: { sources: [{ configMap: { name: 'p' } }] } },
      { name: 'scratch', emptyDir: {} } as never,
    ],
    ...extra,
  } as PodSpecLike;
}

describe('reloadDecision', () => {
  it('asks nothing without the annotation', () => {
    assert.deepEqual(reloadDecision(pod([]), {}), { kind: 'none' });
  });

  it('reloads the configuration volumes the first container mounts without subPath, and only those', () => {
    const spec = pod([
      { name: 'config', mountPath: '/etc/app' },
      { name: 'tls', mountPath: '/etc/tls/tls.crt', subPath: 'tls.crt' },
      { name: 'both', mountPath: '/etc/both' },
      { name: 'scratch', mountPath: '/tmp' },
    ]);
    const decision = reloadDecision(spec, RELOAD);
    assert.ok(decision.kind === 'plan');
    assert.deepEqual(decision.plan.volumes, [
      { name: 'config', mountPath: '/etc/app' },
      { name: 'both', mountPath: '/etc/both' },
    ]);
    assert.deepEqual(decision.plan.trigger, { kind: 'signal', signal: 'SIGHUP' });
    assert.equal(decision.plan.container, 'app');
  });

  it('rolls what another container or an init container mounts', () => {
    const spec = pod(
      [
        { name: 'config', mountPath: '/etc/app' },
        { name: 'tls', mountPath: '/tls' },
      ],
      {
        initContainers: [
          { name: 'init', volumeMounts: [{ name: 'tls', mountPath: '/tls' }] },
          { name: AGENT_CONTAINER, volumeMounts: [{ name: 'config', mountPath: '/etc/app' }] },
        ],
      },
    );
    const decision = reloadDecision(spec, RELOAD);
    assert.ok(decision.kind === 'plan');
    assert.deepEqual(
      decision.plan.volumes.map((v) => v.name),
      ['config'],
      "the agent's own mount does not count",
    );
  });

  it('says why a workload cannot be reloaded', () => {
    const mounted = pod([{ name: 'config', mountPath: '/etc/app' }]);
    const reasons = [
      reloadDecision(mounted, { 'confighash.dev/reload': 'SIGHUP' }),
      reloadDecision(mounted, { 'confighash.dev/reload': 'http://app:8080/-/reload' }),
      reloadDecision(mounted, { ...RELOAD, 'confighash.dev/reload-container': 'nope' }),
      reloadDecision(pod([{ name: 'tls', mountPath: '/t/x', subPath: 'x' }]), RELOAD),
    ].map((d) => (d.kind === 'unusable' ? d.reason : d.kind));
    assert.match(
      reasons[0] ?? '',
      /must be signal:SIGNAME, a signal the program can catch \(e\.g\. signal:SIGHUP\), or http:\/\/127\.0\.0\.1:PORT\/PATH/,
    );
    assert.match(reasons[1] ?? '', /must be signal:SIGNAME/, "only the pod's loopback");
    assert.match(reasons[2] ?? '', /no container "nope"/);
    assert.match(reasons[3] ?? '', /mounts no configMap, secret or projected volume of its own without subPath/);
  });

  it("takes an HTTP trigger on the pod's loopback, a container by name, and the rollout fallback", () => {
    const spec = {
      ...pod([]),
      containers: [{ name: 'side' }, { name: 'app', volumeMounts: [{ name: 'config', mountPath: '/c' }] }],
    };
    const decision = reloadDecision(spec, {
      'confighash.dev/reload': 'http://127.0.0.1:9090/-/reload',
      'confighash.dev/reload-container': 'app',
      'confighash.dev/reload-fallback': 'rollout',
    });
    assert.ok(decision.kind === 'plan');
    assert.deepEqual(
      [decision.plan.trigger, decision.plan.container, decision.plan.fallback],
      [{ kind: 'http', url: 'http://127.0.0.1:9090/-/reload' }, 'app', 'rollout'],
    );
  });
});

describe('reloadedVolumes and the sources that roll', () => {
  const spec = pod([{ name: 'config', mountPath: '/etc/app' }]);

  it('reloads nothing until the agent is in the pod', () => {
    assert.equal(reloadedVolumes(spec, RELOAD).size, 0);
    const withAgent = { ...spec, initContainers: [{ name: AGENT_CONTAINER }] };
    assert.deepEqual([...reloadedVolumes(withAgent, RELOAD)], ['config']);
  });

  it("leaves the reloaded volumes' sources out of what rolls; env keys still roll", () => {
    const reloaded = new Set(['config']);
    assert.deepEqual(
      consumedSources(spec, {}, reloaded).map((s) => s.id),
      ['configmap/env', 'configmap/p', 'secret/tls'],
    );
    assert.deepEqual(
      volumeSources(spec, reloaded).map((s) => s.id),
      ['configmap/app'],
    );
    assert.deepEqual(
      consumedSources(spec).map((s) => s.id),
      ['configmap/app', 'configmap/env', 'configmap/p', 'secret/tls'],
    );
  });
});
