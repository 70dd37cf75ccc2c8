import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { workloadRecord } from '../../test/support/workload-record.ts';
import type { Notice } from '../notify/notice.ts';
import { Metrics } from '../telemetry/metrics.ts';
import { type Rollout, RolloutAudit } from './rollout-audit.ts';

const STARTED = '2026-12-07T10:00:00.000Z';
const ROLLOUT: Rollout = {
  checksum: 'v2:00000000:bbbb',
  from: 'v2:00000000:aaaa',
  startedAt: STARTED,
  sources: 'configmap/app=222222222222',
  changes: [{ source: 'configmap/app', from: '111111111111', to: '222222222222', keys: ['LEVEL'] }],
  changedAt: Date.parse(STARTED) - 1500,
};

function audit(): { audit: RolloutAudit; events: string[]; notices: Notice[]; metrics: Metrics } {
  const events: string[] = [];
  const notices: Notice[] = [];
  const metrics = new Metrics(new Registry());
  const a = new RolloutAudit({
    events: { record: (_target, type, reason, message) => void events.push(`${type} ${reason}: ${message}`) },
    notices: { publish: (notice) => void notices.push(notice) },
    logger: pino({ level: 'silent' }),
    metrics,
    now: () => Date.parse(STARTED),
  });
  return { audit: a, events, notices, metrics };
}

describe('RolloutAudit', () => {
  it('writes one ConfigChanged Event, one notice and the metrics for a patched rollout, naming keys, never values', async () => {
    const { audit: a, events, notices, metrics } = audit();
    a.patching('Deployment/app/web', ROLLOUT);
    a.patched(workloadRecord(), ROLLOUT);
    assert.deepEqual(events, [
      'Normal ConfigChanged: Rolling out: configuration changed: configmap/app (111111111111 → 222222222222: keys LEVEL)',
    ]);
    assert.deepEqual(
      notices.map((n) => [n.type, n.checksum, n.previousChecksum, n.changes]),
      [['rollout.started', ROLLOUT.checksum, ROLLOUT.from, ROLLOUT.changes]],
    );
    assert.equal((await metrics.rollouts.get()).values[0]?.value, 1);
    assert.equal((await metrics.rolloutLatency.get()).values.find((v) => v.metricName?.endsWith('_sum'))?.value, 1.5);
    assert.equal(
      a.confirm(workloadRecord({ rollout: { checksum: ROLLOUT.checksum, startedAt: new Date(STARTED) } })),
      false,
      'nothing left to confirm',
    );
  });

  it('writes the record of a rollout whose answer was lost once the workload is seen carrying it', () => {
    const { audit: a, events } = audit();
    a.patching('Deployment/app/web', ROLLOUT);
    assert.equal(
      a.confirm(workloadRecord({ rollout: { checksum: ROLLOUT.checksum, startedAt: new Date(STARTED) } })),
      true,
    );
    assert.equal(events.length, 1);
    assert.equal(
      a.confirm(workloadRecord({ rollout: { checksum: ROLLOUT.checksum, startedAt: new Date(STARTED) } })),
      false,
      'once',
    );
  });

  it("drops a lost rollout the workload does not carry (another writer's stamp, or never applied), and what a deleted workload left", () => {
    const { audit: a, events } = audit();
    a.patching('Deployment/app/web', ROLLOUT);
    assert.equal(
      a.confirm(
        workloadRecord({ rollout: { checksum: ROLLOUT.checksum, startedAt: new Date(Date.parse(STARTED) + 1) } }),
      ),
      false,
    );
    a.patching('Deployment/app/web', ROLLOUT);
    a.forget('Deployment/app/web');
    assert.equal(
      a.confirm(workloadRecord({ rollout: { checksum: ROLLOUT.checksum, startedAt: new Date(STARTED) } })),
      false,
    );
    assert.deepEqual(events, []);
  });

  it('says so when the changed sources are beyond what the sources annotation lists', () => {
    const { audit: a, events } = audit();
    a.patched(workloadRecord(), { ...ROLLOUT, changes: [] });
    assert.deepEqual(events, [
      'Normal ConfigChanged: Rolling out: configuration changed: sources the sources annotation does not list',
    ]);
  });
});
