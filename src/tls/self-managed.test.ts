import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, it, type TestContext } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { DrivenListWatch, FakeSecrets } from '../../test/support/fake-api.ts';
import { until } from '../../test/support/until.ts';
import { Metrics } from '../telemetry/metrics.ts';
import { SelfManagedCertificates, TLS_SECRET } from './self-managed.ts';

const NS = 'confighash';
const DAY_MS = 86_400_000;
const POLICY = {
  caValidityMs: 30 * DAY_MS,
  servingValidityMs: 3 * DAY_MS,
  promotionDelayMs: 3_600_000,
  expiryMarginMs: 3_600_000,
  dnsNames: ['confighash.confighash.svc'],
  ipAddresses: ['127.0.0.1'],
};

interface Replica {
  certificates: SelfManagedCertificates;
  api: DrivenListWatch;
  published: string[];
  servedAtPublish: (string | undefined)[];
  events: string[];
  changes: { count: number };
  clock: { now: Date };
}

/** One replica on `secrets`, at the time `clock.now`; what it published and what it told. */
function replica(t: TestContext, secrets: FakeSecrets, clock = { now: new Date('2026-12-07T10:00:00Z') }): Replica {
  const api = new DrivenListWatch(() => [...secrets.secrets.values()]);
  const published: string[] = [];
  /** What was served when each bundle was published: never a certificate the bundle is needed for. */
  const servedAtPublish: (string | undefined)[] = [];
  const events: string[] = [];
  const changes = { count: 0 };
  const certificates: SelfManagedCertificates = new SelfManagedCertificates({
    secrets,
    listWatch: api,
    namespace: NS,
    policy: POLICY,
    checkIntervalMs: 3_600_000,
    publishCaBundle: async (bundle) => {
      published.push(bundle);
      servedAtPublish.push(certificates.caBundle() === undefined ? undefined : certificates.current().certificate);
    },
    events: { record: (_target, type, reason, message) => void events.push(`${type} ${reason}: ${message}`) },
    logger: pino({ level: 'silent' }),
    metrics: new Metrics(new Registry()),
    now: () => clock.now,
  });
  certificates.onChange(() => {
    changes.count++;
  });
  t.after(() => {
    certificates.stop();
  });
  return { certificates, api, published, servedAtPublish, events, changes, clock };
}

const stored = (secrets: FakeSecrets, key: string): string =>
  Buffer.from(secrets.secrets.get(`${NS}/${TLS_SECRET}`)?.data?.[key] ?? '', 'base64').toString();

describe('SelfManagedCertificates', () => {
  it('creates one CA and serving certificate for every replica, covering the service, with the bundle published first', async (t) => {
    const secrets = new FakeSecrets();
    const [first, second] = [replica(t, secrets), replica(t, secrets)];
    await Promise.all([first.certificates.start(), second.certificates.start()]);
    assert.deepEqual(
      [...first.servedAtPublish, ...second.servedAtPublish],
      [undefined, undefined],
      'published before serving',
    );
    assert.equal(first.certificates.current().certificate, second.certificates.current().certificate);
    assert.equal(stored(secrets, 'tls.crt'), first.certificates.current().certificate);
    const serving = new X509Certificate(first.certificates.current().certificate);
    assert.equal(serving.checkHost('confighash.confighash.svc'), 'confighash.confighash.svc');
    assert.ok(serving.checkIssued(new X509Certificate(stored(secrets, 'ca.crt'))));
    assert.deepEqual([first.published.length, second.published.length], [1, 1]);
    assert.equal(first.certificates.caBundle(), first.published[0]);
    assert.equal(first.certificates.healthy(), true);
  });

  it('restores a deleted Secret from memory (the same CA and certificate, nothing published again)', async (t) => {
    const secrets = new FakeSecrets();
    const { certificates, api, published, events } = replica(t, secrets);
    await certificates.start();
    await until(() => api.watching, 'the watch');
    const [ca, serving] = [stored(secrets, 'ca.crt'), certificates.current().certificate];
    const deleted = secrets.secrets.get(`${NS}/${TLS_SECRET}`) ?? {};
    secrets.secrets.delete(`${NS}/${TLS_SECRET}`);
    api.send('DELETED', deleted);
    await until(() => secrets.secrets.has(`${NS}/${TLS_SECRET}`), 'the Secret restored');
    assert.deepEqual([stored(secrets, 'ca.crt'), stored(secrets, 'tls.crt')], [ca, serving]);
    assert.equal(published.length, 1);
    assert.match(events.join('\n'), /^Warning CertificateRestored: The Secret was deleted/);
  });

  it('replaces a Secret it cannot use with a new CA: publishes its bundle, then serves and tells', async (t) => {
    const secrets = new FakeSecrets();
    const { certificates, api, published, servedAtPublish, events, changes } = replica(t, secrets);
    await certificates.start();
    await until(() => api.watching, 'the watch');
    const before = certificates.current().certificate;
    const damaged = structuredClone(secrets.secrets.get(`${NS}/${TLS_SECRET}`) ?? {});
    damaged.data = Object.assign(damaged.data ?? {}, { 'tls.key': Buffer.from('not a key').toString('base64') });
    secrets.put(NS, damaged);
    api.send('MODIFIED', damaged);
    await until(() => changes.count === 2, 'the new certificate served');
    assert.notEqual(certificates.current().certificate, before);
    assert.equal(published.length, 2);
    assert.equal(servedAtPublish[1], before, 'the new bundle was published while the old certificate was served');
    assert.match(
      events.join('\n'),
      /^Warning CertificateReplaced: The Secret could not be used \(its serving certificate is unusable/,
    );
  });

  it('renews the serving certificate when a third of its validity is left, from the same CA', async (t) => {
    const secrets = new FakeSecrets();
    const { certificates, clock, changes, published } = replica(t, secrets);
    await certificates.start();
    const [ca, before] = [stored(secrets, 'ca.crt'), certificates.current().certificate];
    clock.now = new Date(clock.now.getTime() + 2 * DAY_MS + 1);
    await certificates.reconcile();
    assert.notEqual(certificates.current().certificate, before);
    assert.equal(stored(secrets, 'tls.crt'), certificates.current().certificate);
    assert.equal(stored(secrets, 'ca.crt'), ca);
    assert.deepEqual([changes.count, published.length], [2, 1]);
  });
});
