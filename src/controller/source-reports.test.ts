import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { until } from '../../test/support/until.ts';
import { workloadRecord } from '../../test/support/workload-record.ts';
import { type ConsumedSource, type Fingerprint, MISSING, type SourceId } from '../checksum/index.ts';
import type { Notice } from '../notify/notice.ts';
import { SourceReports } from './source-reports.ts';
import type { WorkloadRecord } from './workload-store.ts';

const consumed = (id: SourceId, optional = false): ConsumedSource => {
  const [kind, name] = id.split('/') as ['configmap' | 'secret', string];
  return { id, kind, name, keys: { all: true }, sites: ['containers[app].envFrom'], optional };
};

/** The fingerprint of `sources`, those in `missing` missing. */
const now = (sources: readonly SourceId[], missing: readonly SourceId[]): Fingerprint => ({
  stamp: { checksum: 'v2:00000000:cccc', sources: '' },
  digests: sources.map((id) => ({ id, digest: missing.includes(id) ? MISSING : 'a'.repeat(64) })),
});

function reports(present = true): { reports: SourceReports; events: string[]; notices: Notice[] } {
  const events: string[] = [];
  const notices: Notice[] = [];
  const r = new SourceReports({
    workloads: { get: () => (present ? workloadRecord() : undefined) },
    events: { record: (_target, type, reason, message) => void events.push(`${type} ${reason}: ${message}`) },
    notices: { publish: (notice) => void notices.push(notice) },
    missingNoticeGraceMs: 10,
    logger: pino({ level: 'silent' }),
  });
  return { reports: r, events, notices };
}

describe('SourceReports', () => {
  const ids: SourceId[] = ['configmap/app', 'secret/db', 'configmap/opt'];
  const record: WorkloadRecord = workloadRecord({
    sources: [consumed('configmap/app'), consumed('secret/db'), consumed('configmap/opt', true)],
  });

  it('reports required sources newly missing in one Event, once per disappearance, never an optional one', async (t) => {
    const { reports: r, events, notices } = reports();
    t.after(() => {
      r.stop();
    });
    r.missing(record, now(ids, ['secret/db', 'configmap/opt']), {
      sources: 'configmap/app=111111111111,secret/db=222222222222',
    });
    r.missing(record, now(ids, ['secret/db', 'configmap/opt']), undefined);
    assert.deepEqual(events, [
      'Warning MissingSource: secret/db was deleted: the workload is not rolled (new pods could not start); it rolls once when secret/db exists again with different content',
    ]);
    r.missing(record, now(ids, []), undefined);
    r.missing(record, now(ids, ['configmap/app', 'secret/db']), undefined);
    assert.equal(events.length, 2, 'a new disappearance is reported again');
    assert.match(
      events[1] ?? '',
      /^Warning MissingSource: configmap\/app, secret\/db do not exist; their digests are "missing"/,
    );
    await until(() => notices.length === 2, 'the held notices');
  });

  it('lists ten sources and counts the rest, and tells names no object can have apart', (t) => {
    const { reports: r, events } = reports();
    t.after(() => {
      r.stop();
    });
    const many = Array.from({ length: 12 }, (_, i): SourceId => `configmap/absent-${i}`);
    const invalid: SourceId = 'secret/..';
    r.missing(
      workloadRecord({ sources: [...many, invalid].map((id) => consumed(id)) }),
      now([...many, invalid], [...many, invalid]),
      undefined,
    );
    assert.equal(events.length, 1);
    assert.match(
      events[0] ?? '',
      /absent-9 and 2 more do not exist.*\. secret\/\.\. is not a valid name for a ConfigMap or Secret/,
    );
  });

  it('tells a missing source after its grace period, and not at all for a workload deleted meanwhile, nor after forget', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const [kept, deleted, forgotten] = [reports(), reports(false), reports()];
    for (const { reports: r } of [kept, deleted, forgotten]) r.missing(record, now(ids, ['secret/db']), undefined);
    forgotten.reports.forget(record.key);
    t.mock.timers.tick(9);
    assert.equal(kept.notices.length, 0, 'not before the grace period');
    t.mock.timers.tick(1);
    assert.deepEqual(
      [kept, deleted, forgotten].map(({ notices }) => notices.map((n) => n.type)),
      [['source.missing'], [], []],
    );
  });

  it('reports too many sources once per workload, again after forget', (t) => {
    const { reports: r, events } = reports();
    t.after(() => {
      r.stop();
    });
    const over = workloadRecord({ consumedCount: 300 });
    r.tooMany(over);
    r.tooMany(over);
    assert.equal(events.length, 1);
    assert.match(events[0] ?? '', /^Warning TooManySources: Not tracked: .*300/);
    r.forget(over.key);
    r.tooMany(over);
    assert.equal(events.length, 2);
  });
});
