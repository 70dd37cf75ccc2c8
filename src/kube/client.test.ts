import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { HttpMethod, RequestContext } from '@kubernetes/client-node';
import { loadKubeConfig } from './client.ts';

async function dispatcherOf(config: ReturnType<typeof loadKubeConfig>): Promise<unknown> {
  const context = new RequestContext('https://127.0.0.1:6443/api', HttpMethod.GET);
  await config.applySecurityAuthentication(context);
  return context.getDispatcher();
}

describe('kubeconfig', () => {
  it('gives every request the same connection pool until the client certificate on disk changes', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'confighash-kubeconfig-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const cert = join(dir, 'client.crt');
    await writeFile(cert, 'first certificate');
    await writeFile(join(dir, 'key'), 'key');
    const path = join(dir, 'kubeconfig');
    await writeFile(path, JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:6443', 'certificate-authority-data': Buffer.from('ca').toString('base64') } }],
      users: [{ name: 'u', user: { 'client-certificate': cert, 'client-key': join(dir, 'key') } }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'x',
    }));
    const config = loadKubeConfig(path);

    const first = await dispatcherOf(config);
    assert.ok(first);
    assert.equal(await dispatcherOf(config), first);
    await writeFile(cert, 'renewed certificate');
    const renewed = await dispatcherOf(config);
    assert.notEqual(renewed, first);
    assert.equal(await dispatcherOf(config), renewed);
  });
});
