import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gate, MAX_MIN_INTERVAL_MS, rolloutPolicy } from './gate.ts';
import { type Progress, progressOf, rolloutProgress, statusOf } from './progress.ts';

const now = new Date('2026-12-05T10:00:00Z'); // a Saturday
const complete: Progress = { state: 'complete' };

describe('rolloutPolicy and gate', () => {
  it('opens with no policy, and holds outside a window until it opens', () => {
    assert.deepEqual(gate(rolloutPolicy({}, {}), { now, lastRolledAt: undefined, progress: complete }), { open: true });
    const policy = rolloutPolicy({}, { 'confighash.dev/rollout-window': 'Sat,Sun 02:00-05:00' });
    assert.deepEqual(gate(policy, { now, lastRolledAt: undefined, progress: complete }), {
      open: false,
      reason: 'window',
      detail: 'window opens Sun 02:00 UTC',
      retryAt: new Date('2026-12-06T02:00:00Z'),
    });
  });

  it("takes the workload's own window and time zone over its namespace's", () => {
    const policy = rolloutPolicy(
      { 'confighash.dev/rollout-window': 'Sat 10:30-11:00', 'confighash.dev/rollout-timezone': 'Europe/Berlin' },
      { 'confighash.dev/rollout-window': 'Sat 09:00-12:00' },
    );
    const held = gate(policy, { now, lastRolledAt: undefined, progress: complete });
    assert.deepEqual(held.open ? held : held.detail, 'window opens Sat 10:30 Europe/Berlin');
  });

  it('paces config rollouts by min-interval', () => {
    const policy = rolloutPolicy({ 'confighash.dev/min-interval': '10m' }, {});
    const held = gate(policy, { now, lastRolledAt: new Date('2026-12-05T09:55:00Z'), progress: complete });
    assert.deepEqual(held.open ? held : [held.reason, held.retryAt.toISOString()], [
      'min_interval',
      '2026-12-05T10:05:00.000Z',
    ]);
    assert.ok(gate(policy, { now, lastRolledAt: new Date('2026-12-05T09:50:00Z'), progress: complete }).open);
  });

  it('waits for a rollout in progress, not for one that failed, and not at all with wait-for-rollout: "false"', () => {
    const progressing: Progress = { state: 'progressing', updated: 2, desired: 5 };
    const held = gate(rolloutPolicy({}, {}), { now, lastRolledAt: undefined, progress: progressing });
    assert.deepEqual(held.open ? held : held.detail, 'waiting for the previous rollout (2/5 updated)');
    assert.ok(
      gate(rolloutPolicy({}, {}), { now, lastRolledAt: undefined, progress: { state: 'failed', reason: 'x' } }).open,
    );
    assert.ok(
      gate(rolloutPolicy({ 'confighash.dev/wait-for-rollout': 'false' }, {}), {
        now,
        lastRolledAt: undefined,
        progress: progressing,
      }).open,
    );
  });

  it('treats a malformed policy as absent, and says what is wrong', () => {
    const policy = rolloutPolicy(
      { 'confighash.dev/rollout-window': 'weekends', 'confighash.dev/min-interval': 'often' },
      {},
    );
    assert.equal(policy.schedule, undefined);
    assert.equal(policy.minIntervalMs, undefined);
    assert.deepEqual(
      policy.problems.map((p) => p.split(':')[0]),
      ['confighash.dev/rollout-window', 'confighash.dev/min-interval'],
    );
    assert.ok(gate(policy, { now, lastRolledAt: now, progress: complete }).open, 'never silently frozen');
  });
});

describe('progressOf', () => {
  it("reads an Argo Rollout's phase, and gives a CronJob nothing to wait for", () => {
    assert.deepEqual(progressOf('Rollout', { status: { phase: 'Healthy' } }), complete);
    assert.deepEqual(
      progressOf('Rollout', { spec: { replicas: 4 }, status: { phase: 'Paused', updatedReplicas: 2 } }),
      { state: 'progressing', updated: 2, desired: 4 },
    );
    assert.deepEqual(
      progressOf('Rollout', {
        status: { phase: 'Degraded', message: 'ProgressDeadlineExceeded: web-7c9 has timed out progressing' },
      }),
      { state: 'failed', reason: 'Degraded: ProgressDeadlineExceeded: web-7c9 has timed out progressing' },
    );
    assert.deepEqual(
      progressOf('Rollout', {}),
      { state: 'progressing', updated: 0, desired: 1 },
      'not seen by its controller yet',
    );
    assert.deepEqual(progressOf('CronJob', {}), complete);
  });
});

describe('rolloutProgress', () => {
  const deployment = (status: object, spec: object = { replicas: 3 }, generation = 2): Progress =>
    rolloutProgress(
      'Deployment',
      statusOf('Deployment', { metadata: { generation }, spec, status: { observedGeneration: 2, ...status } }),
    );

  it('follows a Deployment as kubectl rollout status does', () => {
    assert.deepEqual(deployment({ replicas: 3, updatedReplicas: 3, availableReplicas: 3 }), { state: 'complete' });
    assert.deepEqual(deployment({ replicas: 4, updatedReplicas: 2, availableReplicas: 3 }), {
      state: 'progressing',
      updated: 2,
      desired: 3,
    });
    assert.deepEqual(
      deployment({ replicas: 4, updatedReplicas: 3, availableReplicas: 3 }),
      { state: 'progressing', updated: 3, desired: 3 },
      'an old pod still there',
    );
    assert.deepEqual(
      deployment({ replicas: 3, updatedReplicas: 3, availableReplicas: 3 }, { replicas: 3 }, 3),
      { state: 'progressing', updated: 0, desired: 3 },
      'not yet observed',
    );
    const stalled = deployment({
      replicas: 3,
      updatedReplicas: 1,
      conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }],
    });
    assert.equal(stalled.state, 'failed');
  });

  it('follows StatefulSets by revision and DaemonSets by scheduled pods', () => {
    const sts = (status: object): Progress =>
      rolloutProgress(
        'StatefulSet',
        statusOf('StatefulSet', {
          metadata: { generation: 1 },
          spec: { replicas: 2 },
          status: { observedGeneration: 1, ...status },
        }),
      );
    assert.deepEqual(
      sts({ replicas: 2, updatedReplicas: 2, readyReplicas: 2, currentRevision: 'a', updateRevision: 'a' }),
      { state: 'complete' },
    );
    assert.deepEqual(
      sts({ replicas: 2, updatedReplicas: 2, readyReplicas: 2, currentRevision: 'a', updateRevision: 'b' }).state,
      'progressing',
    );
    const ds = rolloutProgress(
      'DaemonSet',
      statusOf('DaemonSet', {
        metadata: { generation: 1 },
        status: { observedGeneration: 1, desiredNumberScheduled: 3, updatedNumberScheduled: 1, numberAvailable: 3 },
      }),
    );
    assert.deepEqual(ds, { state: 'progressing', updated: 1, desired: 3 });
    const onDelete = rolloutProgress(
      'StatefulSet',
      statusOf('StatefulSet', {
        metadata: { generation: 1 },
        spec: { replicas: 2, updateStrategy: { type: 'OnDelete' } },
        status: { observedGeneration: 1 },
      }),
    );
    assert.deepEqual(onDelete, { state: 'complete' }, 'OnDelete is never waited for');
  });

  it('refuses a min-interval beyond the maximum, or too long to be a duration, saying so (a huge one was read as Infinity and turned pacing off unsaid)', () => {
    for (const interval of ['9'.repeat(400) + 'h', '721h', '1h'.repeat(40)]) {
      const policy = rolloutPolicy({ 'confighash.dev/min-interval': interval }, {});
      assert.equal(policy.minIntervalMs, undefined, interval.slice(0, 20));
      assert.equal(policy.problems.length, 1);
      assert.ok((policy.problems[0] ?? '').length < 200);
    }
    assert.equal(rolloutPolicy({ 'confighash.dev/min-interval': '720h' }, {}).minIntervalMs, MAX_MIN_INTERVAL_MS);
  });
});
