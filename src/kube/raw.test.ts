import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createSecureServer, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import type { TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import type { KubeConfig } from '@kubernetes/client-node';
import { createCertificateAuthority, issueCertificate } from '../tls/pki.ts';
import { loadKubeConfig } from './client.ts';
import { apiPath, ApiRequestError, getJson, InvalidPathError, watchEvents } from './raw.ts';

describe('apiPath', () => {
  it('encodes each segment', () => {
    assert.equal(
      apiPath('/api/v1', 'namespaces', 'app', 'secrets', 'a/b?c'),
      '/api/v1/namespaces/app/secrets/a%2Fb%3Fc',
    );
  });

  it('refuses the segments URL parsing would drop: a read of `secret/.` must never become a list of every Secret', () => {
    for (const name of ['.', '..', '']) {
      assert.throws(() => apiPath('/api/v1', 'namespaces', 'app', 'secrets', name), InvalidPathError);
    }
    assert.equal(
      new URL(`https://h${apiPath('/api/v1', 'namespaces', 'app', 'secrets', '%2e')}`).pathname,
      '/api/v1/namespaces/app/secrets/%252e',
    );
  });
});

type Handler = (request: Http2ServerRequest, response: Http2ServerResponse) => void;

interface LocalServer {
  config: KubeConfig;
  /** The HTTP version of each request, in order. */
  versions: string[];
  /** TLS connections opened so far. */
  connections(): number;
}

/**
 * An HTTPS server on loopback that prefers HTTP/2, as the API server does, and a
 * kubeconfig for it. It stands in for the API server's transport only: what the
 * API server does with requests is tested against a real one (test/e2e).
 */
async function localServer(t: TestContext, handle: Handler): Promise<LocalServer> {
  const ca = await createCertificateAuthority('test-ca', 3_600_000);
  const serving = await issueCertificate(ca, {
    commonName: '127.0.0.1',
    dnsNames: [],
    ipAddresses: ['127.0.0.1'],
    usage: 'server',
    validityMs: 3_600_000,
  });
  const versions: string[] = [];
  const sockets = new Set<TLSSocket>();
  const server = createSecureServer(
    { cert: serving.certificate, key: serving.privateKey, allowHTTP1: true },
    (request, response) => {
      versions.push(request.httpVersion);
      handle(request, response);
    },
  );
  server.on('secureConnection', (socket: TLSSocket) => sockets.add(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.close();
    // The client keeps its connections alive: close them, or they would keep the test running.
    for (const socket of sockets) socket.destroy();
  });
  const dir = await mkdtemp(join(tmpdir(), 'confighash-raw-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
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
            server: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
            'certificate-authority-data': Buffer.from(ca.certificate).toString('base64'),
          },
        },
      ],
      users: [{ name: 'u', user: { token: 'not-a-secret' } }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'x',
    }),
  );
  return { config: loadKubeConfig(path), versions, connections: () => sockets.size };
}

/** Runs a watch to its end: whether the server accepted it, the events it handed over, and what it ended with. */
async function watchToEnd(
  config: KubeConfig,
  silenceMs: number,
): Promise<{ opened: boolean; events: [string, unknown][]; error: unknown }> {
  let opened = false;
  const events: [string, unknown][] = [];
  const done = Promise.withResolvers<unknown>();
  watchEvents(
    config,
    { path: '/api/v1/configmaps', query: { resourceVersion: '7' }, silenceMs },
    {
      onOpen: () => {
        opened = true;
      },
      onEvent: (type, object) => events.push([type, object]),
      onDone: done.resolve,
    },
  );
  const error = await done.promise;
  return { opened, events, error };
}

describe('requests over HTTPS', () => {
  it('speak HTTP/1.1 to a server that prefers HTTP/2, on one kept-alive connection, with the credentials', async (t) => {
    const authorizations: (string | undefined)[] = [];
    const server = await localServer(t, (request, response) => {
      authorizations.push(request.headers.authorization);
      response.setHeader('content-type', 'application/json');
      response.end('{"kind":"APIVersions"}');
    });
    assert.deepEqual(await getJson(server.config, '/api', {}, 5000), { kind: 'APIVersions' });
    await getJson(server.config, '/api', {}, 5000);
    assert.deepEqual(server.versions, ['1.1', '1.1']);
    assert.deepEqual(authorizations, ['Bearer not-a-secret', 'Bearer not-a-secret']);
    assert.equal(server.connections(), 1);
  });

  it('fail with the HTTP status and the Status message the server answered', async (t) => {
    const server = await localServer(t, (_, response) => {
      response.statusCode = 403;
      response.end('{"kind":"Status","message":"secrets \\"db\\" is forbidden","details":{"causes":[{},{}]}}');
    });
    const error = await getJson(
      server.config,
      apiPath('/api/v1', 'namespaces', 'app', 'secrets', 'db'),
      {},
      5000,
    ).catch((failure: unknown) => failure);
    assert.ok(error instanceof ApiRequestError);
    assert.equal(error.status, 403);
    assert.equal(error.causes, 2);
    assert.equal(error.message, 'GET /api/v1/namespaces/app/secrets/db: HTTP 403: secrets "db" is forbidden');
  });

  it('time out with a TimeoutError when no answer comes', async (t) => {
    const server = await localServer(t, () => undefined);
    const error = await getJson(server.config, '/api', {}, 100).catch((failure: unknown) => failure);
    assert.ok(error instanceof DOMException);
    assert.equal(error.name, 'TimeoutError');
  });
});

describe('watchEvents', () => {
  it('hands over each event whole and in order, however the stream is cut, and ends when the server ends the watch', async (t) => {
    const lines = [
      '{"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"8"},"data":{"k":"é"}}}',
      '{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"9"}}}',
      '{"type":"DELETED","object":{"metadata":{"name":"a","resourceVersion":"10"}}}',
    ];
    const stream = Buffer.from(`${lines.join('\n')}\n`);
    let query = '';
    const server = await localServer(t, (request, response) => {
      query = request.url;
      // Cut mid-line and inside the two bytes of "é".
      const cuts = [0, 7, stream.indexOf('é') + 1, stream.indexOf('\n') + 3, stream.length];
      const writeFrom = (i: number): void => {
        if (i + 1 >= cuts.length) {
          response.end();
          return;
        }
        response.write(stream.subarray(cuts[i], cuts[i + 1]), () => setImmediate(writeFrom, i + 1));
      };
      writeFrom(0);
    });
    const { opened, events, error } = await watchToEnd(server.config, 5000);
    assert.equal(error, undefined);
    assert.ok(opened);
    assert.deepEqual(
      events,
      lines.map((line) => {
        const event = JSON.parse(line) as { type: string; object: unknown };
        return [event.type, event.object];
      }),
    );
    assert.equal(query, '/api/v1/configmaps?resourceVersion=7&watch=true');
  });

  it('ends a watch that stays silent with a TimeoutError, and a refused one, never opened, with its status', async (t) => {
    const silent = await localServer(t, (_, response) => {
      response.write('{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"9"}}}\n');
    });
    const timedOut = await watchToEnd(silent.config, 200);
    assert.equal(timedOut.events.length, 1);
    assert.ok(timedOut.error instanceof DOMException);
    assert.equal(timedOut.error.name, 'TimeoutError');

    const gone = await localServer(t, (_, response) => {
      response.statusCode = 410;
      response.end('{"kind":"Status","code":410,"message":"too old resource version: 7 (12)"}');
    });
    const refused = await watchToEnd(gone.config, 5000);
    assert.equal(refused.opened, false);
    assert.ok(refused.error instanceof ApiRequestError);
    assert.equal(refused.error.status, 410);
  });

  it("ends with an error that quotes nothing of an event it cannot parse: it may hold a Secret's value", async (t) => {
    const server = await localServer(t, (_, response) => {
      response.end('{"type":"MODIFIED","object":{"kind":"Secret","data":{"pin":"MTQ4Nw=="}},\n');
    });
    const { events, error } = await watchToEnd(server.config, 5000);
    assert.deepEqual(events, []);
    assert.ok(error instanceof SyntaxError);
    assert.doesNotMatch(error.message, /MTQ4Nw/);
    assert.match(error.message, /an event of the watch of \/api\/v1\/configmaps is not valid JSON/);
  });

  it('stops when aborted, ending with an AbortError', async (t) => {
    const server = await localServer(t, (_, response) => {
      response.write('{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"9"}}}\n');
    });
    const first = Promise.withResolvers<undefined>();
    const done = Promise.withResolvers<unknown>();
    const handle = watchEvents(
      server.config,
      { path: '/api/v1/configmaps', query: {}, silenceMs: 5000 },
      {
        onOpen: () => undefined,
        onEvent: () => {
          first.resolve(undefined);
        },
        onDone: done.resolve,
      },
    );
    await first.promise;
    handle.abort();
    const error = await done.promise;
    assert.ok(error instanceof DOMException);
    assert.equal(error.name, 'AbortError');
  });
});
