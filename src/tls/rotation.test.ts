import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createCertificateAuthority, DAY_MS, issueCertificate } from './pki.ts';
import { bundleCertificates, makeBundle, nextRotationStep, type RotationPolicy, type TlsState } from './rotation.ts';

const t0 = new Date('2026-01-01T00:00:00Z');
const at = (days: number): Date => new Date(t0.getTime() + days * DAY_MS);

const policy: RotationPolicy = {
  caValidityMs: 90 * DAY_MS,
  servingValidityMs: 30 * DAY_MS,
  promotionDelayMs: DAY_MS,
  expiryMarginMs: 60_000,
  dnsNames: ['confighash.confighash-system.svc'],
  ipAddresses: [],
};

async function freshState(now = t0, dnsNames = policy.dnsNames): Promise<TlsState> {
  const ca = await createCertificateAuthority('ca', policy.caValidityMs, now);
  const serving = await issueCertificate(
    ca,
    { commonName: 'x', dnsNames, usage: 'server', validityMs: policy.servingValidityMs },
    now,
  );
  return { ca, serving, bundle: makeBundle([ca.certificate], now) };
}

describe('nextRotationStep', () => {
  it('creates everything when there is nothing', () => {
    assert.deepEqual(nextRotationStep(undefined, policy, t0), { kind: 'create' });
  });

  it('does nothing while everything is fresh', async () => {
    assert.deepEqual(nextRotationStep(await freshState(), policy, at(19)), { kind: 'none' });
  });

  it('renews the serving certificate when a third of its validity is left', async () => {
    const step = nextRotationStep(await freshState(), policy, at(21));
    assert.deepEqual(step, { kind: 'renew-serving', reason: 'a third of its validity is left' });
  });

  it('renews the serving certificate when the configured validity is shortened', async () => {
    const step = nextRotationStep(await freshState(), { ...policy, servingValidityMs: DAY_MS }, t0);
    assert.deepEqual(step, { kind: 'renew-serving', reason: 'it is valid for longer than the configured validity' });
  });

  it('renews the serving certificate when it does not cover the service name', async () => {
    const state = await freshState(t0, ['old.example']);
    const step = nextRotationStep(state, policy, t0);
    assert.deepEqual(step, { kind: 'renew-serving', reason: 'it does not cover confighash.confighash-system.svc' });
  });

  it('renews the serving certificate when another CA signed it', async () => {
    const [a, b] = await Promise.all([freshState(), freshState()]);
    const step = nextRotationStep({ ...a, serving: b.serving }, policy, t0);
    assert.deepEqual(step, { kind: 'renew-serving', reason: 'not signed by the current CA' });
  });

  it('trusts a next CA first, and signs with it only after the promotion delay', async () => {
    const state = await freshState();
    assert.deepEqual(nextRotationStep(state, policy, at(61)), { kind: 'add-next-ca' });

    const nextCa = await createCertificateAuthority('next', policy.caValidityMs, at(61));
    const staged: TlsState = { ...state, nextCa, nextCaSince: at(61) };
    // The serving certificate was renewed meanwhile in a real run; here only the CA matters.
    const renewedServing = { ...staged, serving: (await freshState(at(61))).serving };
    assert.notEqual(nextRotationStep(staged, policy, at(61.5)).kind, 'promote-next-ca');
    assert.deepEqual(nextRotationStep(renewedServing, policy, at(62)), { kind: 'promote-next-ca' });
  });

  it('promotes the next CA at once when the current CA is about to expire', async () => {
    const state = await freshState();
    const nextCa = await createCertificateAuthority('next', policy.caValidityMs, at(89.99));
    const staged: TlsState = { ...state, nextCa, nextCaSince: at(89.99) };
    assert.deepEqual(nextRotationStep(staged, policy, at(89.9995)), { kind: 'promote-next-ca' });
  });

  it('stages a new CA when the configured CA validity is shortened', async () => {
    const step = nextRotationStep(await freshState(), { ...policy, caValidityMs: 30 * DAY_MS }, t0);
    assert.deepEqual(step, { kind: 'add-next-ca' });
  });

  it('prunes expired CAs from the bundle', async () => {
    const old = await createCertificateAuthority('old', DAY_MS, t0);
    const state = await freshState(t0);
    const withOld = { ...state, bundle: `${state.bundle}${old.certificate}` };
    assert.deepEqual(nextRotationStep(withOld, policy, at(0.5)), { kind: 'none' });
    assert.deepEqual(nextRotationStep(withOld, policy, at(2)), { kind: 'prune-bundle' });
  });
});

describe('makeBundle', () => {
  it('drops duplicates and expired certificates, and splits back apart', async () => {
    const a = await createCertificateAuthority('a', 10 * DAY_MS, t0);
    const b = await createCertificateAuthority('b', DAY_MS, t0);
    assert.equal(bundleCertificates(makeBundle([a.certificate, b.certificate, a.certificate], t0)).length, 2);
    assert.deepEqual(bundleCertificates(makeBundle([a.certificate, b.certificate], at(2))), [a.certificate]);
  });
});
