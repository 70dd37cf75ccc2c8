// The webhook's live reads (sources/reader.ts) against the real API server:
// a source read at the version the controller's store already digested is taken
// from the store; any other version is digested from what the read returned.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { consumedSources, HmacKeyring, keyId, type SourceState, ValueHasher } from '../../src/checksum/index.ts';
import { loadKubeConfig } from '../../src/kube/client.ts';
import { type KnownSources, LiveSourceReader } from '../../src/sources/reader.ts';
import { apply, kubectl, kubectlJson, testNamespace } from '../support/kube.ts';

const valueKey = randomBytes(32);
const hasher = new ValueHasher(new HmacKeyring({ valueKey, keys: [], signingId: keyId(valueKey) }));

/** A store that holds one source at one version, with digests no read could compute. */
function storeAt(resourceVersion: string): { known: KnownSources; held: SourceState } {
  const held: SourceState = {
    exists: true,
    keys: new Map([['LEVEL', 'digest-from-the-store']]),
    matched: false,
    resourceVersion,
  };
  return { held, known: { state: () => held } };
}

async function liveVersion(namespace: string): Promise<string> {
  return (
    await kubectlJson<{ metadata: { resourceVersion: string } }>([
      'get',
      'configmap',
      'app',
      '-n',
      namespace,
      '-o',
      'json',
    ])
  ).metadata.resourceVersion;
}

describe('live source reads', () => {
  it("take the store's digests for the version the store holds, and digest any other version", async (t) => {
    const namespace = await testNamespace(t);
    await apply(namespace, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app' }, data: { LEVEL: 'info' } });
    const sources = consumedSources(
      { containers: [{ name: 'app', envFrom: [{ configMapRef: { name: 'app' } }] }] },
      {},
    );
    const id = sources[0]?.id ?? assert.fail('no source extracted');
    const read = async (known: KnownSources): Promise<SourceState | undefined> =>
      (
        await new LiveSourceReader(loadKubeConfig(), hasher, { concurrency: 1, timeoutMs: 5000, known }).read(
          namespace,
          sources,
        )
      ).get(id);

    const first = await liveVersion(namespace);
    const current = storeAt(first);
    assert.equal(await read(current.known), current.held);

    await kubectl(['patch', 'configmap', 'app', '-n', namespace, '--type=merge', '-p', '{"data":{"LEVEL":"debug"}}']);
    assert.deepEqual(await read(storeAt(first).known), {
      exists: true,
      keys: hasher.keyDigests('configmap', { data: { LEVEL: 'debug' } }),
      matched: false,
      resourceVersion: await liveVersion(namespace),
    });
  });
});
