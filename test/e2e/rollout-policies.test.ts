// Rollout policies on the local control plane, counted in revisions: a change
// outside a maintenance window waits for it and then rolls once; min-interval
// folds three changes into one rollout at the interval's end; a rollout past its
// progress deadline is reported failed and does not hold the next; the approval
// hook holds a rollout until it allows it (and never sees a value); a rollout undo
// is told it does not bring configuration back.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import type { WorkloadReport } from '../../src/cli/inspect.ts';
import {
  CONFIGHASH_NAMESPACE,
  type ConfighashProcess,
  confighashCli,
  startConfighashForTest,
} from '../support/confighash.ts';
import { eventsOf, waitForEvents } from '../support/kube-objects.ts';
import { apply, kubectl, kubectlStderr, testNamespace, waitFor } from '../support/kube.ts';
import { revisionCount, settledRevisions, waitForRevisions } from '../support/rollouts.ts';
import { configMap, workload } from '../support/workloads.ts';

const ENABLED = { 'confighash.dev/enabled': 'true' };
const CANARY = 'canary-value-7f3e9a';
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

const app = (annotations: Record<string, string> = {}): object =>
  workload(
    'Deployment',
    'web',
    { env: [{ name: 'LEVEL', valueFrom: { configMapKeyRef: { name: 'app', key: 'LEVEL' } } }] },
    { annotations },
  );

const change = (ns: string, level: string): Promise<string> =>
  kubectl(['patch', 'configmap', 'app', '-n', ns, '--type=merge', '-p', JSON.stringify({ data: { LEVEL: level } })]);

async function report(ns: string): Promise<WorkloadReport> {
  return JSON.parse(
    await confighashCli([
      'explain',
      'deployment/web',
      '-n',
      ns,
      '-o',
      'json',
      `--confighash-namespace=${CONFIGHASH_NAMESPACE}`,
    ]),
  ) as WorkloadReport;
}

/** A UTC window of two minutes that opens at the next minute with at least 15 s to go. */
function nextWindow(): { text: string; opensAt: Date } {
  const opensAt = new Date(Math.ceil((Date.now() + 15_000) / 60_000) * 60_000);
  const hhmm = (d: Date): string =>
    `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}`;
  const closes = new Date(opensAt.getTime() + 120_000);
  return { text: `${DAYS[opensAt.getUTCDay()] ?? ''} ${hhmm(opensAt)}-${hhmm(closes)}`, opensAt };
}

/** An approval hook on loopback that answers with `decide`, recording every request it gets. */
async function hook(
  t: TestContext,
  decide: (request: unknown) => object | undefined,
): Promise<{ url: string; requests: unknown[] }> {
  const requests: unknown[] = [];
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      const parsed: unknown = JSON.parse(body);
      requests.push(parsed);
      const answer = decide(parsed);
      if (answer) response.setHeader('content-type', 'application/json').end(JSON.stringify(answer));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  );
  const address = server.address();
  return { url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/approve`, requests };
}

async function firstRevision(
  t: TestContext,
  args: string[],
  annotations: Record<string, string> = {},
  namespaceAnnotations: Record<string, string> = {},
): Promise<{ ns: string; confighash: ConfighashProcess }> {
  const confighash = await startConfighashForTest(t, ['--coalesce-window=0', ...args]);
  const ns = await testNamespace(t, ENABLED);
  for (const [key, value] of Object.entries(namespaceAnnotations))
    await kubectl(['annotate', 'namespace', ns, `${key}=${value}`]);
  await apply(ns, configMap('app', { LEVEL: 'info', OTHER: CANARY }), app(annotations));
  assert.equal(await settledRevisions(ns, 'Deployment', 'web', confighash.metricsUrl), 1);
  return { ns, confighash };
}

describe('rollout policies', () => {
  it("holds a change outside the namespace's maintenance window, and rolls it once when the window opens", async (t) => {
    const window = nextWindow();
    const { ns, confighash } = await firstRevision(t, [], {}, { 'confighash.dev/rollout-window': window.text });
    await change(ns, 'debug');
    const [deferred] = await waitForEvents(ns, 'RolloutDeferred');
    assert.match(deferred?.message ?? '', /^Not rolling out yet: window opens \w{3} \d\d:\d\d UTC$/);
    const held = await report(ns);
    assert.deepEqual([held.state, held.detail], ['deferred', `window opens ${window.text.slice(0, 9)} UTC`]);
    await change(ns, 'warn');
    assert.equal(await revisionCount(ns, 'Deployment', 'web'), 1, 'rolled outside the window');
    await waitForRevisions(ns, 'Deployment', 'web', { count: 2, timeoutMs: 120_000 });
    assert.ok(Date.now() >= window.opensAt.getTime() - 1000, 'rolled before the window opened');
    assert.equal(
      await settledRevisions(ns, 'Deployment', 'web', confighash.metricsUrl),
      2,
      'one rollout with everything that changed meanwhile',
    );
    // No kubelet runs its pods: confighash's rollout stays under way.
    const rolling = await report(ns);
    assert.equal(rolling.state, 'rolling');
    assert.match(rolling.detail ?? '', /^[01]\/1 updated$/);
  });

  it('ignores a malformed window, saying so, instead of freezing the workload', async (t) => {
    const { ns, confighash } = await firstRevision(t, [], { 'confighash.dev/rollout-window': 'weekends only' });
    await change(ns, 'debug');
    await waitForRevisions(ns, 'Deployment', 'web', 2);
    assert.equal(await settledRevisions(ns, 'Deployment', 'web', confighash.metricsUrl), 2);
    const [invalid] = await waitForEvents(ns, 'InvalidRolloutPolicy');
    assert.match(invalid?.message ?? '', /confighash\.dev\/rollout-window: "weekends only"/);
  });

  it('min-interval: three changes inside the interval give one rollout at its end', async (t) => {
    const { ns, confighash } = await firstRevision(t, [], { 'confighash.dev/min-interval': '15s' });
    await change(ns, 'debug');
    await waitForRevisions(ns, 'Deployment', 'web', 2);
    const first = Date.now();
    for (const level of ['a', 'b', 'c']) await change(ns, level);
    await waitFor('the held rollout', async () => ((await report(ns)).state === 'deferred' ? true : undefined));
    await waitForRevisions(ns, 'Deployment', 'web', 3);
    assert.ok(Date.now() - first >= 13_000, `rolled ${Date.now() - first} ms after the previous rollout`);
    assert.equal(await settledRevisions(ns, 'Deployment', 'web', confighash.metricsUrl), 3);
  });

  it('reports a rollout past its progress deadline as failed, and does not let it hold the next one forever', async (t) => {
    // No kubelet: no pod ever runs, so every rollout of this Deployment exceeds its 3 s deadline.
    const stuck = app({ 'confighash.dev/wait-for-rollout': 'true' }) as { spec: Record<string, unknown> };
    stuck.spec['progressDeadlineSeconds'] = 3;
    const confighash = await startConfighashForTest(t, ['--coalesce-window=0']);
    const ns = await testNamespace(t, ENABLED);
    await apply(ns, configMap('app', { LEVEL: 'info' }), stuck);
    await change(ns, 'debug');
    const [failed] = await waitForEvents(ns, 'RolloutFailed', 60_000);
    assert.match(
      failed?.message ?? '',
      /^The rollout of configuration v2:[0-9a-f]{8}:[0-9a-f]{12} failed after \d+s: ProgressDeadlineExceeded/,
    );
    assert.equal(await settledRevisions(ns, 'Deployment', 'web', confighash.metricsUrl), 2);
    const after = await report(ns);
    assert.equal(after.state, 'failed');
    await change(ns, 'warn');
    await waitForRevisions(ns, 'Deployment', 'web', 3);
  });

  it('holds a rollout the approval hook denies, rolls once when it allows, and the hook never sees a value', async (t) => {
    let allow = false;
    const approval = await hook(t, () =>
      allow ? { allowed: true } : { allowed: false, reason: 'change freeze until the release', retryAfterSeconds: 1 },
    );
    const { ns, confighash } = await firstRevision(t, [`--approval-url=${approval.url}`]);
    await change(ns, 'debug');
    const [deferred] = await waitForEvents(ns, 'RolloutDeferred');
    assert.equal(deferred?.message, 'Awaiting approval: change freeze until the release');
    assert.deepEqual(
      [(await report(ns)).state, await revisionCount(ns, 'Deployment', 'web')],
      ['awaiting-approval', 1],
    );
    allow = true;
    await waitForRevisions(ns, 'Deployment', 'web', 2);
    assert.equal(await settledRevisions(ns, 'Deployment', 'web', confighash.metricsUrl), 2);
    const [request] = approval.requests as {
      kind: string;
      workload: object;
      changes: { source: string; keys?: string[] }[];
    }[];
    assert.ok(request);
    assert.equal(request.kind, 'RolloutApprovalRequest');
    const schema = JSON.parse(
      await readFile(join(import.meta.dirname, '..', '..', 'docs', 'schemas', 'approval-request.schema.json'), 'utf8'),
    ) as { required: string[] };
    assert.deepEqual(Object.keys(request).sort(), [...schema.required].sort(), 'the request is what its schema says');
    assert.deepEqual(
      request.changes.map((c) => [c.source, c.keys]),
      [['configmap/app', ['LEVEL']]],
    );
    const [changed] = await waitForEvents(ns, 'ConfigChanged');
    assert.match(changed?.message ?? '', /configmap\/app \([0-9a-f]{12} → [0-9a-f]{12}: keys LEVEL\)/);
    // The canary: no value in any hook payload, Event or log line.
    const events = await kubectl(['get', 'events', '-n', ns, '-o', 'json']);
    for (const [where, text] of [
      ['hook payloads', JSON.stringify(approval.requests)],
      ['Events', events],
      ['logs', confighash.logs.join('\n')],
    ] as const) {
      assert.equal(text.includes(CANARY) || text.includes('"debug"'), false, `a value in the ${where}`);
    }
  });

  for (const policy of ['defer', 'allow'] as const) {
    it(`follows --approval-failure-policy=${policy} when the hook does not answer`, async (t) => {
      const approval = await hook(t, () => undefined);
      const { ns, confighash } = await firstRevision(t, [
        `--approval-url=${approval.url}`,
        '--approval-timeout=1s',
        `--approval-failure-policy=${policy}`,
      ]);
      await change(ns, 'debug');
      if (policy === 'allow') {
        await waitForRevisions(ns, 'Deployment', 'web', 2);
        assert.equal(await settledRevisions(ns, 'Deployment', 'web', confighash.metricsUrl), 2);
        return;
      }
      const [deferred] = await waitForEvents(ns, 'RolloutDeferred');
      assert.match(
        deferred?.message ?? '',
        /^Awaiting approval: the approval hook failed \(no answer within 1000ms\); --approval-failure-policy is defer$/,
      );
      assert.equal(await revisionCount(ns, 'Deployment', 'web'), 1);
    });
  }

  it('warns that kubectl rollout undo does not bring configuration back, and history shows what each revision ran', async (t) => {
    const { ns, confighash } = await firstRevision(t, []);
    await change(ns, 'debug');
    await waitForRevisions(ns, 'Deployment', 'web', 2);
    assert.equal(await settledRevisions(ns, 'Deployment', 'web', confighash.metricsUrl), 2);
    const warnings = await kubectlStderr(['rollout', 'undo', 'deployment/web', '-n', ns]);
    assert.match(
      warnings,
      /Warning: confighash: this template carries the configuration stamp of an earlier revision \(kubectl rollout undo\?\): a rollback does not bring back configuration/,
    );
    assert.equal(await settledRevisions(ns, 'Deployment', 'web', confighash.metricsUrl), 2, 'the undo changed nothing');
    const revisions = JSON.parse(await confighashCli(['history', 'deployment/web', '-n', ns, '-o', 'json'])) as {
      revision: number;
      sources: string;
    }[];
    assert.equal(revisions.length, 2);
    assert.notEqual(revisions[0]?.sources, revisions[1]?.sources);
    assert.ok(revisions.every((r) => /^configmap\/app=[0-9a-f]{12}$/.test(r.sources)));
    assert.deepEqual(await eventsOf(ns, 'RolloutDeferred'), []);
  });
});
