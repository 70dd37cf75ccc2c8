import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { Metrics } from '../telemetry/metrics.ts';
import type { Progress } from '../policy/progress.ts';
import { RolloutFollower } from './rollout-follower.ts';
import type { WorkloadRecord } from './workload-store.ts';
import { workloadRecord } from '../../test/support/workload-record.ts';

const STARTED = new Date('2026-12-05T10:00:00Z');
const CHECKSUM = `v2:01234567:${'c'.repeat(64)}`;

function record(
  progress: Progress,
  kind: WorkloadRecord['kind'] = 'Deployment',
  extra: Partial<WorkloadRecord> = {},
): WorkloadRecord {
  return workloadRecord({
    kind,
    stamped: { checksum: CHECKSUM, sources: '' },
    progress,
    rollout: { checksum: CHECKSUM, startedAt: STARTED },
    ...extra,
  });
}

function follower(secondsLater: number): { follower: RolloutFollower; patches: object[]; events: string[] } {
  const patches: object[] = [];
  const events: string[] = [];
  const f = new RolloutFollower({
    progressDeadlineMs: 600_000,
    patcher: {
      patch: async (_ref, patch) => {
        patches.push(patch);
        return { generation: undefined };
      },
    },
    events: { record: (_t, type, reason, message) => void events.push(`${type} ${reason}: ${message}`) },
    logger: pino({ level: 'silent' }),
    metrics: new Metrics(new Registry()),
    now: () => STARTED.getTime() + secondsLater * 1000,
  });
  return { follower: f, patches, events };
}

describe('RolloutFollower', () => {
  it('records a complete rollout, then tells it, with its duration', async () => {
    const { follower: f, patches, events } = follower(42);
    assert.equal(await f.follow(record({ state: 'complete' })), undefined);
    assert.deepEqual(patches, [
      { metadata: { annotations: { 'confighash.dev/rollout-result': 'complete 2026-12-05T10:00:42.000Z' } } },
    ]);
    assert.deepEqual(events, ['Normal RolloutComplete: Rolled out configuration v2:01234567:cccccccccccc in 42s']);
  });

  it('records a Deployment past its progress deadline as failed', async () => {
    const { follower: f, events } = follower(700);
    await f.follow(record({ state: 'failed', reason: 'ProgressDeadlineExceeded: no progress' }));
    assert.deepEqual(events, [
      'Warning RolloutFailed: The rollout of configuration v2:01234567:cccccccccccc failed after 700s: ProgressDeadlineExceeded: no progress',
    ]);
  });

  it('gives a StatefulSet its deadline: asks to look again before it, and fails it after', async () => {
    const early = follower(60);
    assert.equal(
      await early.follower.follow(record({ state: 'progressing', updated: 1, desired: 3 }, 'StatefulSet')),
      540_000,
    );
    assert.deepEqual(early.events, []);
    const late = follower(601);
    await late.follower.follow(record({ state: 'progressing', updated: 1, desired: 3 }, 'StatefulSet'));
    assert.match(
      late.events[0] ?? '',
      /failed after 601s: not complete within 600s \(1\/3 updated; --rollout-progress-deadline\)$/,
    );
  });

  it('tells nothing twice, nor of a rollout the template has moved on from', async () => {
    const { follower: f, events } = follower(10);
    await f.follow(record({ state: 'complete' }, 'Deployment', { rolloutResult: 'complete 2026-12-05T10:00:05.000Z' }));
    await f.follow(
      record({ state: 'complete' }, 'Deployment', { stamped: { checksum: 'v2:01234567:other', sources: '' } }),
    );
    assert.deepEqual(events, []);
  });
});
