import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { DrivenListWatch, FakeSecrets } from '../../test/support/fake-api.ts';
import { until } from '../../test/support/until.ts';
import { HMAC_KEY_SECRET, HmacKeyring, type KeyMaterial, keyId } from '../checksum/index.ts';
import { Metrics } from '../telemetry/metrics.ts';
import { KeyCustodian, keyMaterial, keySecret, loadKeyring, loadOrCreateKeys, rotateKey } from './hmac-key.ts';

const NS = 'confighash';
const KEY = `${NS}/${HMAC_KEY_SECRET}`;
const material = (fill: number): KeyMaterial => ({
  valueKey: Buffer.alloc(32, fill),
  keys: [],
  signingId: keyId(Buffer.alloc(32, fill)),
});

describe('HMAC key custody', () => {
  it('creates the key Secret once, and any replica starting later (or at once) reads the same keys', async () => {
    const secrets = new FakeSecrets();
    const [first, second] = await Promise.all([loadOrCreateKeys(secrets, NS), loadOrCreateKeys(secrets, NS)]);
    assert.deepEqual(secrets.writes, [`create ${KEY}`, `conflict create ${KEY}`], 'one created it; the other read it');
    assert.equal(first.material.signingId, second.material.signingId);
    assert.equal(first.material.valueKey.length, 32);
    assert.equal(first.installedAt, Date.parse('2026-12-01T00:00:00Z'), 'installed when the Secret was created');
    assert.equal((await loadOrCreateKeys(secrets, NS)).material.signingId, first.material.signingId);
  });

  it('refuses a Secret whose key is short or whose signing key it does not hold, saying which', () => {
    const short = keySecret(material(1));
    short.data = { key: Buffer.alloc(16).toString('base64') };
    assert.throws(() => keyMaterial(short), /has no 32-byte "key"/);
    const unknown = keySecret(material(1));
    unknown.metadata = Object.assign(unknown.metadata ?? {}, {
      annotations: { 'confighash.dev/signing-key': 'deadbeef' },
    });
    assert.throws(() => keyMaterial(unknown), /signing key deadbeef is not among its keys/);
    assert.deepEqual(keyMaterial(keySecret(material(1))), material(1));
  });

  it('rotates by adding a signing key and keeping the old ones; tools that must not create one say what is missing', async () => {
    const secrets = new FakeSecrets();
    await assert.rejects(rotateKey(secrets, NS), /does not exist: is confighash installed in namespace confighash\?/);
    await assert.rejects(loadKeyring(secrets, NS), /does not exist: is confighash installed/);
    const { material: before } = await loadOrCreateKeys(secrets, NS);
    const id = await rotateKey(secrets, NS);
    const keyring = await loadKeyring(secrets, NS);
    assert.equal(keyring.signingId, id);
    assert.notEqual(id, before.signingId);
    const after = keyMaterial((await secrets.read(NS, HMAC_KEY_SECRET)) ?? {});
    assert.deepEqual(after.valueKey, before.valueKey, 'values are digested with the same key');
    assert.equal(after.keys.length, 1);
  });
});

describe('KeyCustodian', () => {
  interface Custody {
    secrets: FakeSecrets;
    api: DrivenListWatch;
    keyring: HmacKeyring;
    events: string[];
    loaded: KeyMaterial;
    metrics: Metrics;
  }

  async function custodian(t: TestContext): Promise<Custody> {
    const secrets = new FakeSecrets();
    const { material: loaded } = await loadOrCreateKeys(secrets, NS);
    const api = new DrivenListWatch(() => [...secrets.secrets.values()]);
    const keyring = new HmacKeyring(loaded);
    const events: string[] = [];
    const metrics = new Metrics(new Registry());
    const keeper = new KeyCustodian({
      secrets,
      listWatch: api,
      namespace: NS,
      keyring,
      events: { record: (_target, type, reason, message) => void events.push(`${type} ${reason}: ${message}`) },
      logger: pino({ level: 'silent' }),
      metrics,
    });
    keeper.start(loaded);
    t.after(() => keeper.stop());
    await until(() => api.watching, 'the watch');
    return { secrets, api, keyring, events, loaded, metrics };
  }

  it('takes a rotation made by another replica into its keyring', async (t) => {
    const { secrets, api, keyring } = await custodian(t);
    const id = await rotateKey(secrets, NS);
    api.send('MODIFIED', (await secrets.read(NS, HMAC_KEY_SECRET)) ?? {});
    assert.equal(keyring.signingId, id);
  });

  it('restores a deleted Secret from memory, with the same keys, and says so in a Warning', async (t) => {
    const { secrets, api, events, loaded, metrics } = await custodian(t);
    const deleted = secrets.secrets.get(KEY) ?? {};
    secrets.secrets.delete(KEY);
    api.send('DELETED', deleted);
    await until(() => events.length === 1, 'the restore');
    assert.deepEqual(keyMaterial((await secrets.read(NS, HMAC_KEY_SECRET)) ?? {}), loaded);
    assert.match(
      events[0] ?? '',
      /^Warning KeyRestored: Restored from memory \(deleted\)\. To rotate the key, run "confighash rotate-key"/,
    );
    assert.equal((await metrics.selfRepairs.get()).values.find((v) => v.labels['object'] === 'hmac-key')?.value, 1);
  });

  it('repairs a damaged Secret over its version, and leaves it to whoever wrote first on a conflict', async (t) => {
    const { secrets, api, events, loaded, keyring } = await custodian(t);
    const damaged = secrets.put(
      NS,
      Object.assign(keySecret(loaded, secrets.secrets.get(KEY)?.metadata?.resourceVersion), { data: {} }),
    );
    api.send('MODIFIED', damaged);
    await until(() => events.length === 1, 'the repair');
    assert.equal(secrets.writes.at(-1), `replace ${KEY}`);
    assert.deepEqual(keyMaterial((await secrets.read(NS, HMAC_KEY_SECRET)) ?? {}), loaded);
    assert.equal(keyring.signingId, loaded.signingId, 'the keyring kept its keys');

    secrets.put(NS, keySecret(loaded)); // another replica repaired it first: the version seen is stale
    api.send('MODIFIED', damaged);
    await until(() => secrets.writes.at(-1) === `conflict replace ${KEY}`, 'the repair to conflict');
    assert.equal(events.length, 1, 'a repair that conflicted is not told');
  });
});
