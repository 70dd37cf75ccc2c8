import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { reloadDecision, type ReloadPlan } from '../checksum/index.ts';
import { AGENT_ANNOTATION, shapeTemplate, TARGET_ENV, withAgent, withoutAgent } from './reload-agent.ts';
import type { PodTemplate } from './review.ts';

const IMAGE = 'ghcr.io/confighash/confighash:0.2.0';

function template(securityContext: object = { runAsUser: 1000 }, extra: object = {}): PodTemplate {
  return {
    metadata: { labels: { app: 'web' }, annotations: { other: 'kept' } },
    spec: {
      containers: [
        { name: 'app', image: 'app', securityContext, volumeMounts: [{ name: 'config', mountPath: '/etc/app' }] },
      ],
      volumes: [{ name: 'config', configMap: { name: 'app' } }],
      ...extra,
    },
  };
}

function plan(trigger: string, t: PodTemplate = template()): ReloadPlan {
  const decision = reloadDecision(t.spec ?? {}, { 'confighash.dev/reload': trigger });
  if (decision.kind !== 'plan') throw new Error(JSON.stringify(decision));
  return decision.plan;
}

interface Spec {
  initContainers?: Record<string, unknown>[];
  containers?: { env?: { name: string }[] }[];
  shareProcessNamespace?: boolean;
  volumes?: { name: string }[];
}

function injected(t: PodTemplate, trigger: string, image = IMAGE): PodTemplate {
  const result = withAgent(t, plan(trigger, t), image);
  if ('problem' in result) throw new Error(result.problem);
  return result.template;
}

describe('withAgent', () => {
  it("adds a native sidecar with the reloaded volumes read-only, no token, the app's user, and a shared process namespace for a signal", () => {
    const t = injected(template(), 'signal:SIGHUP');
    const spec = t.spec as Spec;
    const agent = spec.initContainers?.[0] ?? {};
    assert.equal(agent['name'], 'confighash-agent');
    assert.equal(agent['restartPolicy'], 'Always');
    assert.equal(agent['image'], IMAGE);
    assert.deepEqual(agent['args'], [
      'agent',
      '--reload=signal:SIGHUP',
      '--volume=/etc/app',
      `--target-env=${TARGET_ENV}=app`,
      '--port=9099',
      '--state=/run/confighash-agent/state.json',
    ]);
    assert.deepEqual(agent['volumeMounts'], [
      { name: 'config', mountPath: '/etc/app', readOnly: true },
      { name: 'confighash-agent-no-token', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true },
      { name: 'confighash-agent-state', mountPath: '/run/confighash-agent' },
    ]);
    assert.deepEqual(
      spec.volumes?.slice(-1),
      [{ name: 'confighash-agent-state', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } }],
      'its memory across its restarts lives as long as the pod',
    );
    assert.deepEqual(agent['securityContext'], {
      runAsUser: 1000,
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    assert.equal(spec.shareProcessNamespace, true);
    assert.deepEqual(spec.containers?.[0]?.env, [{ name: TARGET_ENV, value: 'app' }]);
    assert.equal(t.metadata?.annotations?.[AGENT_ANNOTATION], 'injected,shareProcessNamespace');
  });

  it('for an HTTP trigger, shares nothing and runs as nobody', () => {
    const spec = injected(template({}), 'http://127.0.0.1:9090/-/reload').spec as Spec;
    assert.equal(spec.shareProcessNamespace, undefined);
    assert.equal((spec.initContainers?.[0]?.['securityContext'] as { runAsUser: number }).runAsUser, 65532);
    assert.equal(spec.containers?.[0]?.env, undefined);
  });

  it('refuses, saying why, what it cannot make reloadable', () => {
    const problem = (t: PodTemplate, trigger: string): string => {
      const result = withAgent(t, plan(trigger, t), IMAGE);
      return 'problem' in result ? result.problem : 'injected';
    };
    assert.match(problem(template({}), 'signal:SIGHUP'), /set a non-root runAsUser on container "app" or the pod/);
    assert.match(problem(template({ runAsUser: 0 }), 'signal:SIGHUP'), /runs as root/);
    assert.equal(
      problem(template({}, { securityContext: { runAsUser: 7 } }), 'signal:SIGHUP'),
      'injected',
      "the pod's user will do",
    );
    const busy = template();
    const [app] = (busy.spec as { containers: { ports?: object[] }[] }).containers;
    if (app) app.ports = [{ containerPort: 9099 }];
    assert.match(problem(busy, 'http://127.0.0.1:1/x'), /port 9099/);
  });
});

describe('withoutAgent', () => {
  it('takes out exactly what was injected, and nothing the user had', () => {
    for (const t of [
      template(),
      template({ runAsUser: 1000 }, { shareProcessNamespace: true, initContainers: [{ name: 'init' }] }),
    ]) {
      assert.deepEqual(withoutAgent(injected(t, 'signal:SIGHUP')), t);
    }
    const plain = template();
    assert.equal(withoutAgent(plain), plain, 'a template without the agent is left as it is');
  });
});

describe('shapeTemplate', () => {
  const annotations = { 'confighash.dev/reload': 'signal:SIGHUP' };

  it("keeps the previous version's agent exactly when nothing else changed: a new agent image rolls nothing", () => {
    const previous = injected(template(), 'signal:SIGHUP', 'old-image');
    const { kept, fresh } = shapeTemplate(template(), previous, annotations, IMAGE);
    assert.deepEqual(kept, previous);
    assert.equal((fresh.spec as Spec).initContainers?.[0]?.['image'], IMAGE);
  });

  it('writes the agent afresh when the template changed, and takes it out with the annotation', () => {
    const previous = injected(template(), 'signal:SIGHUP', 'old-image');
    const changed = { ...template(), metadata: { labels: { app: 'web', version: '2' } } };
    assert.equal(
      (shapeTemplate(changed, previous, annotations, IMAGE).kept.spec as Spec).initContainers?.[0]?.['image'],
      IMAGE,
    );
    const removed = shapeTemplate(previous, previous, {}, IMAGE);
    assert.deepEqual(removed.kept, template());
  });

  it('warns and injects nothing when the workload cannot be reloaded', () => {
    const shaped = shapeTemplate(template({}), undefined, annotations, IMAGE);
    assert.deepEqual(shaped.fresh, template({}));
    assert.match(
      shaped.warning ?? '',
      /^confighash: not reloaded in place, every change rolls the workload: to send signal:SIGHUP/,
    );
    assert.match(
      shapeTemplate(template(), undefined, annotations, undefined).warning ?? '',
      /reload in place is not enabled in this install/,
    );
  });
});
