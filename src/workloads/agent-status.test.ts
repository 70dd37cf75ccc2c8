import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isAgentPodOf, lastReport, LogPacing } from './agent-status.ts';

const deployment = { kind: 'Deployment' as const, name: 'web', uid: 'd-uid' };
const agent = { initContainers: [{ name: 'confighash-agent' }] };

function pod(
  owner: { kind: string; name: string; uid?: string } | undefined,
  labels: Record<string, string> = {},
  spec: object = agent,
): Parameters<typeof isAgentPodOf>[1] {
  return {
    metadata: { name: 'p', labels, ...(owner ? { ownerReferences: [{ ...owner, controller: true }] } : {}) },
    spec,
  };
}

describe('the pods whose agents count for a workload', () => {
  it("are the workload's own: its ReplicaSets' for a Deployment, its own for a StatefulSet or DaemonSet", () => {
    assert.equal(
      isAgentPodOf(deployment, pod({ kind: 'ReplicaSet', name: 'web-5d8f' }, { 'pod-template-hash': '5d8f' })),
      true,
    );
    assert.equal(
      isAgentPodOf(
        { kind: 'StatefulSet', name: 'db', uid: 's-uid' },
        pod({ kind: 'StatefulSet', name: 'db', uid: 's-uid' }),
      ),
      true,
    );
    assert.equal(
      isAgentPodOf(
        { kind: 'DaemonSet', name: 'log', uid: 'ds-uid' },
        pod({ kind: 'DaemonSet', name: 'log', uid: 'ds-uid' }),
      ),
      true,
    );
  });

  it("leave out a pod a tenant made by hand with a container named confighash-agent, and another workload's pods its selector matches", () => {
    assert.equal(isAgentPodOf(deployment, pod(undefined, { 'pod-template-hash': '5d8f' })), false, 'no owner');
    assert.equal(
      isAgentPodOf(deployment, pod({ kind: 'ReplicaSet', name: 'other-5d8f' }, { 'pod-template-hash': '5d8f' })),
      false,
      "another Deployment's",
    );
    assert.equal(isAgentPodOf(deployment, pod({ kind: 'ReplicaSet', name: 'web-5d8f' })), false, 'no template hash');
    assert.equal(
      isAgentPodOf(
        { kind: 'StatefulSet', name: 'db', uid: 's-uid' },
        pod({ kind: 'StatefulSet', name: 'db', uid: 'another' }),
      ),
      false,
      "a namesake's",
    );
    assert.equal(
      isAgentPodOf(deployment, pod({ kind: 'ReplicaSet', name: 'web-5d8f' }, { 'pod-template-hash': '5d8f' }, {})),
      false,
      'no agent',
    );
  });
});

describe("an agent's report", () => {
  it('is its last status line; other lines and broken JSON are passed over', () => {
    const line = (state: string): string =>
      JSON.stringify({ msg: 'agent status', status: { state, reloads: 0, startedAt: 't' } });
    assert.equal(
      lastReport([line('waiting'), line('current'), '{"msg":"agent status"', 'not json agent status'].join('\n'))
        ?.state,
      'current',
    );
    assert.equal(lastReport('x'.repeat(16 * 1024)), undefined);
  });

  it("takes a forged line only in the agent's shape, its error as one bounded line", () => {
    const forged = (status: unknown): string => JSON.stringify({ msg: 'agent status', status });
    assert.equal(lastReport(forged({ state: 'bogus', startedAt: 't' })), undefined);
    assert.equal(lastReport(forged({ state: 'failed', startedAt: 7 })), undefined);
    const report = lastReport(
      forged({
        state: 'failed',
        startedAt: 't',
        lastAttempt: 'a',
        lastError: `<users/all>\n[click](http://x) ${'y'.repeat(10_000)}`,
      }),
    );
    assert.equal(report?.lastError?.length, 300);
    assert.equal(report.lastError.includes('\n'), false);
  });
});

describe('LogPacing', () => {
  it('runs no more reads at once than it allows, and runs them all', async () => {
    const pacing = new LogPacing(1000, 4);
    let running = 0;
    let most = 0;
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        pacing.run(async () => {
          running++;
          most = Math.max(most, running);
          await new Promise((resolve) => setImmediate(resolve));
          running--;
          return i;
        }),
      ),
    );
    assert.equal(most, 4);
    assert.deepEqual(
      results,
      Array.from({ length: 40 }, (_, i) => i),
    );
  });
});
