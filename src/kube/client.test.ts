import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadKubeConfig, requestOptions } from './client.ts';

describe('kubeconfig', () => {
  it('gives every request the same connections until the client certificate on disk changes, and the lease its own', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'confighash-kubeconfig-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const cert = join(dir, 'client.crt');
    await writeFile(cert, 'first certificate');
    await writeFile(join(dir, 'key'), 'key');
    const path = join(dir, 'kubeconfig');
    await writeFile(
      path,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          {
            name: 'c',
            cluster: {
              server: 'https://127.0.0.1:6443',
              'certificate-authority-data': Buffer.from('ca').toString('base64'),
            },
          },
        ],
        users: [{ name: 'u', user: { 'client-certificate': cert, 'client-key': join(dir, 'key') } }],
        contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
        'current-context': 'x',
      }),
    );
    const config = loadKubeConfig(path);
    const agent = async (pool?: string): Promise<unknown> => (await requestOptions(config, pool)).agent;

    const first = await agent();
    assert.ok(first);
    assert.equal(await agent(), first);
    const lease = await agent('lease');
    assert.notEqual(lease, first);
    assert.equal(await agent('lease'), lease);
    await writeFile(cert, 'renewed certificate');
    const renewed = await agent();
    assert.notEqual(renewed, first);
    assert.equal(await agent(), renewed);
  });
});
