import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hasherWith } from '../../test/support/hasher.ts';
import { workloadRecord } from '../../test/support/workload-record.ts';
import {
  type ConsumedSource,
  formatBaseline,
  RELOADED_ANNOTATION,
  type ReloadPlan,
  type Stamp,
} from '../checksum/index.ts';
import { SourceStore } from '../sources/store.ts';
import { ReloadMarks } from './reload-marks.ts';
import type { WorkloadRecord } from './workload-store.ts';

const CONFIG: ConsumedSource = {
  id: 'configmap/config',
  kind: 'configmap',
  name: 'config',
  keys: { all: true },
  sites: ['volumes[config]'],
  optional: false,
};
const PLAN: ReloadPlan = {
  trigger: { kind: 'signal', signal: 'SIGHUP' },
  triggerText: 'signal:SIGHUP',
  container: 'app',
  volumes: [{ name: 'config', mountPath: '/etc/app' }],
  fallback: undefined,
};

function marks(): {
  marks: ReloadMarks;
  sources: SourceStore;
  patches: object[];
  tracked: { now: Stamp; before: string | undefined }[];
} {
  const hasher = hasherWith(Buffer.alloc(32, 3));
  const sources = new SourceStore(hasher, new Set());
  const patches: object[] = [];
  const tracked: { now: Stamp; before: string | undefined }[] = [];
  const m = new ReloadMarks({
    hasher,
    sources,
    patcher: {
      patch: async (_ref, patch) => {
        patches.push(patch);
        return { generation: undefined };
      },
    },
    reloads: { track: (_record, now, before) => void tracked.push({ now, before }) },
  });
  return { marks: m, sources, patches, tracked };
}

const configMap = (resourceVersion: string, level: string): object => ({
  metadata: { namespace: 'app', name: 'config', resourceVersion },
  data: { level },
});
const reloading = (mark?: string): WorkloadRecord =>
  workloadRecord({ reload: { plan: PLAN, sources: [CONFIG] }, reloadedMark: mark });

describe('ReloadMarks', () => {
  it('records the mark of a workload first seen, and then nothing while its reloaded sources do not change', async () => {
    const { marks: m, sources, patches, tracked } = marks();
    sources.handler('configmap').upsert(configMap('1', 'info'));
    await m.reconcile(reloading());
    const stamp = m.stamp(reloading());
    assert.ok(stamp);
    assert.deepEqual(patches, [{ metadata: { annotations: { [RELOADED_ANNOTATION]: formatBaseline(stamp) } } }]);
    await m.reconcile(reloading(formatBaseline(stamp)));
    assert.equal(patches.length, 1);
    assert.deepEqual(tracked, []);
  });

  it('hands a change of a reloaded source to the tracker, with the sources before and now', async () => {
    const { marks: m, sources, patches, tracked } = marks();
    sources.handler('configmap').upsert(configMap('1', 'info'));
    const before = m.stamp(reloading());
    assert.ok(before);
    sources.handler('configmap').upsert(configMap('2', 'debug'));
    await m.reconcile(reloading(formatBaseline(before)));
    assert.deepEqual(tracked, [{ now: m.stamp(reloading()), before: before.sources }]);
    assert.notEqual(tracked[0]?.now.checksum, before.checksum);
    assert.deepEqual(patches, []);
  });

  it('has no stamp, and does nothing, for a workload that reloads nothing', async () => {
    const { marks: m, patches } = marks();
    assert.equal(m.stamp(workloadRecord()), undefined);
    await m.reconcile(workloadRecord());
    assert.deepEqual(patches, []);
  });
});
