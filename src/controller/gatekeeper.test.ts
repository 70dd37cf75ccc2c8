import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { Metrics } from '../telemetry/metrics.ts';
import type { ApprovalDecision, Approver } from '../policy/approval.ts';
import { Gatekeeper } from './gatekeeper.ts';
import type { WorkloadRecord } from './workload-store.ts';
import { workloadRecord } from '../../test/support/workload-record.ts';

const NOW = Date.parse('2026-12-05T10:00:00Z'); // a Saturday
const CANDIDATE = {
  checksum: 'v2:00000000:bbbb',
  from: 'v2:00000000:aaaa',
  changes: [{ source: 'configmap/app', from: '111111111111', to: '222222222222', keys: ['LEVEL'] }],
};

function record(policy: Record<string, string> = {}, deferred?: string): WorkloadRecord {
  return workloadRecord({ policy, deferred });
}

function keeper(
  approver?: Approver,
  now = (): number => NOW,
): { keeper: Gatekeeper; patches: object[]; events: string[] } {
  const patches: object[] = [];
  const events: string[] = [];
  const k = new Gatekeeper({
    scope: { defaults: () => ({}) },
    waitForRollout: true,
    ...(approver ? { approver } : {}),
    patcher: {
      patch: async (_ref, patch) => {
        patches.push(patch);
        return { generation: undefined };
      },
    },
    events: { record: (_t, type, reason, message) => void events.push(`${type} ${reason}: ${message}`) },
    logger: pino({ level: 'silent' }),
    metrics: new Metrics(new Registry()),
    now,
  });
  return { keeper: k, patches, events };
}

describe('Gatekeeper', () => {
  it('holds a rollout outside its window until the window opens, recorded and told once', async () => {
    const { keeper: k, patches, events } = keeper();
    const workload = record({ 'confighash.dev/rollout-window': 'Sun 02:00-05:00' });
    assert.deepEqual(await k.hold(workload, CANDIDATE), { retryAfterMs: Date.parse('2026-12-06T02:00:00Z') - NOW });
    assert.deepEqual(patches, [
      {
        metadata: { annotations: { 'confighash.dev/deferred': 'v2:00000000:bbbb window window opens Sun 02:00 UTC' } },
      },
    ]);
    assert.deepEqual(events, ['Normal RolloutDeferred: Not rolling out yet: window opens Sun 02:00 UTC']);
    await k.hold(record(workload.policy, 'v2:00000000:bbbb window window opens Sun 02:00 UTC'), CANDIDATE);
    assert.equal(events.length, 1, 'told once');
  });

  it('asks the approval hook, holds on a deny without asking again until its retry time, and rolls on an allow', async () => {
    const answers: ApprovalDecision[] = [
      { allowed: false, reason: 'change freeze', retryAfterMs: 5_000 },
      { allowed: true, reason: 'ok', retryAfterMs: 0 },
    ];
    const asked: unknown[] = [];
    let now = NOW;
    const { keeper: k, events } = keeper(
      {
        review: async (request) => {
          asked.push(request);
          return answers.shift() ?? { allowed: true, reason: '', retryAfterMs: 0 };
        },
      },
      () => now,
    );
    assert.deepEqual(await k.hold(record(), CANDIDATE), { retryAfterMs: 5_000 });
    assert.deepEqual(events, ['Normal RolloutDeferred: Awaiting approval: change freeze']);
    now += 1_000;
    assert.deepEqual(await k.hold(record({}, 'v2:00000000:bbbb approval change freeze'), CANDIDATE), {
      retryAfterMs: 4_000,
    });
    assert.equal(asked.length, 1, 'not asked again before its retry time');
    now += 5_000;
    assert.equal(await k.hold(record(), CANDIDATE), undefined);
    assert.deepEqual(asked[0], {
      workload: { kind: 'Deployment', namespace: 'app', name: 'web', uid: 'u' },
      checksum: { from: 'v2:00000000:aaaa', to: 'v2:00000000:bbbb' },
      changes: CANDIDATE.changes,
    });
  });

  it('ignores a malformed policy, saying so once, and holds nothing for it', async () => {
    const { keeper: k, events } = keeper();
    const workload = record({ 'confighash.dev/rollout-window': 'weekends' });
    assert.equal(await k.hold(workload, CANDIDATE), undefined);
    assert.equal(await k.hold(workload, CANDIDATE), undefined);
    assert.equal(events.length, 1);
    assert.match(
      events[0] ?? '',
      /^Warning InvalidRolloutPolicy: Ignored, so rollouts are not held back by it: confighash\.dev\/rollout-window: "weekends"/,
    );
  });

  it('holds no worker on a hung hook: the rollout is looked at again soon, and proceeds on the answer that came meanwhile', async () => {
    let answer: (decision: ApprovalDecision) => void = () => undefined;
    let asked = 0;
    const hung = new Promise<ApprovalDecision>((resolve) => (answer = resolve));
    const { keeper: k, events } = keeper({
      review: async () => {
        asked++;
        return hung;
      },
    });
    // The hook never answers this question until told to: a worker waiting on it would never come back.
    assert.deepEqual(await k.hold(record(), CANDIDATE), { retryAfterMs: 500 });
    assert.deepEqual(await k.hold(record(), CANDIDATE), { retryAfterMs: 500 }, 'still waiting, not asked again');
    assert.equal(asked, 1);
    answer({ allowed: true, reason: 'ok', retryAfterMs: 0 });
    assert.equal(await k.hold(record(), CANDIDATE), undefined);
    assert.deepEqual(events, [], 'a pending question is no deferral to announce');
  });

  it("tells, once and before any rollout, what of a workload's annotations it does not read", () => {
    const { keeper: k, events } = keeper();
    const workload = {
      ...record({ 'confighash.dev/min-interval': '9999h' }),
      refused: ['confighash.dev/exclude is 9000 characters, more than its 8192: ignored'],
    };
    k.review(workload);
    k.review(workload);
    assert.deepEqual(events, [
      'Warning InvalidRolloutPolicy: Ignored, so rollouts are not held back by it: confighash.dev/min-interval: "9999h" is longer than the maximum, 720h',
      'Warning AnnotationRefused: Not read: confighash.dev/exclude is 9000 characters, more than its 8192: ignored',
    ]);
  });
});
