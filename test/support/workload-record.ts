// A WorkloadRecord as the workload store would hold it for Deployment app/web,
// for unit tests of the controller's parts: `extra` says what differs.
import type { WorkloadRecord } from '../../src/controller/workload-store.ts';

export function workloadRecord(extra: Partial<WorkloadRecord> = {}): WorkloadRecord {
  const kind = extra.kind ?? 'Deployment';
  return {
    key: `${kind}/app/web`,
    kind,
    namespace: 'app',
    name: 'web',
    uid: 'u',
    resourceVersion: '1',
    generation: 1,
    annotated: { workload: true, template: true },
    ignored: false,
    sources: [],
    consumedCount: 1,
    reload: undefined,
    selector: 'app=web',
    reloadedMark: undefined,
    stamped: { checksum: 'v2:00000000:aaaa', sources: '' },
    baseline: undefined,
    runNow: false,
    reloader: false,
    creation: {},
    policy: {},
    progress: { state: 'complete' },
    rollout: undefined,
    rolloutResult: undefined,
    deferred: undefined,
    ...extra,
  };
}
