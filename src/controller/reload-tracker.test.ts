import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { until } from '../../test/support/until.ts';
import { workloadRecord } from '../../test/support/workload-record.ts';
import type { ReloadPlan, Stamp } from '../checksum/index.ts';
import type { AgentReport, AgentStatusReader } from '../workloads/agent-status.ts';
import { Metrics } from '../telemetry/metrics.ts';
import { ReloadTracker } from './reload-tracker.ts';
import type { WorkloadRecord } from './workload-store.ts';

const CHANGED_AT = Date.parse('2026-12-01T10:00:00Z');
const before = new Date(CHANGED_AT - 60_000).toISOString();
const after = new Date(CHANGED_AT + 5_000).toISOString();
const STAMP: Stamp = { checksum: `v2:01234567:${'a'.repeat(64)}`, sources: 'configmap/app=222222222222' };

function record(fallback?: 'rollout'): WorkloadRecord {
  const plan: ReloadPlan = {
    trigger: { kind: 'signal', signal: 'SIGHUP' },
    triggerText: 'signal:SIGHUP',
    container: 'app',
    volumes: [],
    fallback,
  };
  return workloadRecord({
    consumedCount: 0,
    reload: { plan, sources: [] },
    stamped: { checksum: undefined, sources: undefined },
  });
}

interface AgentPod {
  name: string;
  report: AgentReport | undefined;
}

/** The pods `agents` lists at each poll, and their reports; `reads` counts the log reads per pod. */
function reader(agents: () => AgentPod[], reads = new Map<string, number>()): AgentStatusReader {
  let listed: AgentPod[] = [];
  return {
    pods: async () => {
      listed = agents();
      return listed.map((a) => a.name);
    },
    report: async (_namespace, pod) => {
      reads.set(pod, (reads.get(pod) ?? 0) + 1);
      return listed.find((a) => a.name === pod)?.report;
    },
  };
}

/** A tracker whose pods report what `agents` holds at each poll. */
function tracker(
  agents: () => AgentPod[],
  workload = record(),
  deadlineMs = 5_000,
  reads?: Map<string, number>,
): { tracker: ReloadTracker; patches: object[]; events: string[]; metrics: Metrics } {
  const patches: object[] = [];
  const events: string[] = [];
  const metrics = new Metrics(new Registry());
  const t = new ReloadTracker({
    agents: reader(agents, reads),
    changedAt: async () => CHANGED_AT,
    workloads: { get: () => workload },
    patcher: {
      patch: async (_ref, patch) => {
        patches.push(patch);
        return { generation: undefined };
      },
    },
    events: { record: (_target, type, reason, message) => void events.push(`${type} ${reason}: ${message}`) },
    logger: pino({ level: 'silent' }),
    metrics,
    pollMs: 5,
    deadlineMs,
  });
  return { tracker: t, patches, events, metrics };
}

const current = (name: string, lastSuccess = after): AgentPod => ({
  name,
  report: { state: 'current', reloads: 1, startedAt: before, lastSuccess },
});

describe('ReloadTracker', () => {
  it('records the reload once every pod runs the new configuration, reloaded or started since the change', async () => {
    let round = 0;
    const started = (name: string, at: string): AgentPod => ({
      name,
      report: { state: 'current', reloads: 0, startedAt: at },
    });
    // web-2 started just before the change and never reloads; web-3 replaces it.
    const pods = (): AgentPod[] =>
      round++ < 3
        ? [current('web-1'), started('web-2', new Date(CHANGED_AT - 500).toISOString())]
        : [current('web-1'), started('web-3', before)];
    const { tracker: t, patches, events } = tracker(pods);
    t.track(record(), STAMP, 'configmap/app=111111111111');
    await until(() => events.length > 0, 'the outcome');
    await t.stop();
    assert.deepEqual(patches, [
      { metadata: { annotations: { 'confighash.dev/reloaded': `${STAMP.checksum ?? ''} ${STAMP.sources}` } } },
    ]);
    assert.deepEqual(events, [
      'Normal ConfigReloaded: Reloaded in place in 2 pods: configmap/app (111111111111 → 222222222222)',
    ]);
  });

  it('reports a pod whose agent gave up since the change, and does not follow that configuration again', async () => {
    const failing: AgentPod = {
      name: 'web-1',
      report: {
        state: 'failed',
        reloads: 0,
        startedAt: before,
        lastAttempt: after,
        lastError: 'POST http://127.0.0.1:8080/-/reload: HTTP 500',
      },
    };
    const { tracker: t, patches, events, metrics } = tracker(() => [failing, current('web-2')]);
    t.track(record(), STAMP, undefined);
    await until(() => events.length > 0, 'the outcome');
    t.track(record(), STAMP, undefined);
    await t.stop();
    assert.deepEqual(events, [
      'Warning ReloadFailed: Reload in place failed: pod web-1: POST http://127.0.0.1:8080/-/reload: HTTP 500',
    ]);
    assert.deepEqual(patches, [], 'no fallback asked for');
    assert.equal((await metrics.reloads.get()).values.find((v) => v.labels.result === 'failed')?.value, 1);
  });

  it('with reload-fallback: rollout, rolls the workload once in its stead', async () => {
    const failing: AgentPod = {
      name: 'web-1',
      report: {
        state: 'failed',
        reloads: 0,
        startedAt: before,
        lastAttempt: after,
        lastError: 'process 7 died after SIGHUP',
      },
    };
    const { tracker: t, patches, events } = tracker(() => [failing], record('rollout'));
    t.track(record('rollout'), STAMP, undefined);
    await until(() => events.length === 2, 'the outcome');
    await t.stop();
    assert.deepEqual(patches, [
      {
        metadata: { annotations: { 'confighash.dev/reloaded': `${STAMP.checksum ?? ''} ${STAMP.sources}` } },
        spec: { template: { metadata: { annotations: { 'confighash.dev/reload-fallback-for': STAMP.checksum } } } },
      },
    ]);
    assert.match(events[1] ?? '', /^Normal ConfigChanged: Rolling out: the reload in place failed/);
  });

  it('ignores a failure older than the change, and times out on pods the kubelet has not updated', async () => {
    const stale: AgentPod = {
      name: 'web-1',
      report: { state: 'failed', reloads: 0, startedAt: before, lastAttempt: before, lastError: 'old' },
    };
    const { tracker: t, events } = tracker(() => [stale, current('web-2', before)], record(), 50);
    t.track(record(), STAMP, undefined);
    await until(() => events.length > 0, 'the outcome');
    await t.stop();
    assert.match(
      events[0] ?? '',
      /^Warning ReloadFailed: Reload in place failed: timed out after 0s: web-1, web-2 still wait for the kubelet/,
    );
  });

  it('records, without an Event, a reload of a workload with no pod running: the next pods mount it', async () => {
    const { tracker: t, patches, events } = tracker(() => []);
    t.track(record(), STAMP, undefined);
    await until(() => patches.length > 0, 'the mark');
    await t.stop();
    assert.deepEqual(events, []);
  });

  it('stops following a reload a rollout superseded', async () => {
    const { tracker: t, events } = tracker(() => [current('web-1', before)]);
    t.track(record(), STAMP, undefined);
    assert.equal(t.following('Deployment/app/web'), true);
    t.forget('Deployment/app/web');
    await t.stop();
    assert.deepEqual(events, []);
  });

  it('reads a pod that runs the change no more: a reload costs about one log read per pod, however long the others take', async () => {
    const reads = new Map<string, number>();
    let round = 0;
    const waiting = (name: string): AgentPod => ({ name, report: { state: 'waiting', reloads: 0, startedAt: before } });
    const pods = (): AgentPod[] =>
      round++ < 20 ? [current('web-1'), waiting('web-2')] : [current('web-1'), current('web-2')];
    const { tracker: t, events } = tracker(pods, record(), 5_000, reads);
    t.track(record(), STAMP, undefined);
    await until(() => events.length > 0, 'the outcome');
    await t.stop();
    assert.match(events[0] ?? '', /^Normal ConfigReloaded: Reloaded in place in 2 pods/);
    assert.equal(reads.get('web-1'), 1);
    assert.ok((reads.get('web-2') ?? 0) >= 20);
  });

  it('names at most five waiting pods when it times out', async () => {
    const waiting = (i: number): AgentPod => ({
      name: `web-${i}`,
      report: { state: 'waiting', reloads: 0, startedAt: before },
    });
    const { tracker: t, events } = tracker(() => Array.from({ length: 1000 }, (_, i) => waiting(i)), record(), 50);
    t.track(record(), STAMP, undefined);
    await until(() => events.length > 0, 'the outcome');
    await t.stop();
    assert.match(events[0] ?? '', /web-0, web-1, web-2, web-3, web-4 and 995 more still wait/);
  });
});
