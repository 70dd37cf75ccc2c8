import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createSecureServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { HttpMethod, RequestContext } from '@kubernetes/client-node';
import { createCertificateAuthority, issueCertificate } from '../tls/pki.ts';
import { loadKubeConfig } from './client.ts';
import { getJson } from './raw.ts';

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

  it('speaks HTTP/1.1 to a server that prefers HTTP/2, as the API server does', async (t) => {
    const ca = await createCertificateAuthority('test-ca', 3_600_000);
    const serving = await issueCertificate(ca, { commonName: '127.0.0.1', dnsNames: [], ipAddresses: ['127.0.0.1'], usage: 'server', validityMs: 3_600_000 });
    const versions: string[] = [];
    const server = createSecureServer({ cert: serving.certificate, key: serving.privateKey, allowHTTP1: true }, (request, response) => {
      versions.push(request.httpVersion);
      response.setHeader('content-type', 'application/json');
      response.end('{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => server.close());
    const dir = await mkdtemp(join(tmpdir(), 'confighash-kubeconfig-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, 'kubeconfig');
    await writeFile(path, JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { server: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, 'certificate-authority-data': Buffer.from(ca.certificate).toString('base64') } }],
      users: [{ name: 'u', user: { token: 'not-a-secret' } }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'x',
    }));
    const config = loadKubeConfig(path);
    await getJson(config, '/api', {}, 5000);
    await getJson(config, '/api', {}, 5000);
    assert.deepEqual(versions, ['1.1', '1.1']);
  });
});
