// The webhook server's connection bounds under a flood, on loopback: the flood is
// bounded in count and time, and the server must keep answering afterwards.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { request } from 'node:https';
import { describe, it } from 'node:test';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { Metrics } from '../telemetry/metrics.ts';
import type { CertificateSource } from '../tls/certificate-source.ts';
import { createCertificateAuthority, DAY_MS, issueCertificate } from '../tls/pki.ts';
import type { AdmissionHandler } from './handler.ts';
import { startWebhookServer } from './server.ts';
import { until } from '../../test/support/until.ts';

const LIMITS = {
  maxConnections: 50,
  maxConnectionsPerClient: 1000,
  handshakeTimeoutMs: 800,
  headersTimeoutMs: 800,
  requestTimeoutMs: 2000,
  keepAliveTimeoutMs: 800,
};
const FLOOD = 400;

async function certificates(): Promise<CertificateSource> {
  const ca = await createCertificateAuthority('test-ca', DAY_MS);
  const serving = await issueCertificate(ca, {
    commonName: '127.0.0.1',
    dnsNames: [],
    ipAddresses: ['127.0.0.1'],
    usage: 'server',
    validityMs: DAY_MS,
  });
  return {
    start: async () => undefined,
    current: () => serving,
    caBundle: () => ca.certificate,
    onChange: () => undefined,
    healthy: () => true,
    stop: () => undefined,
  };
}

const handler = { admit: async (r: { uid: string }) => ({ uid: r.uid, allowed: true }) } as unknown as AdmissionHandler;

function open(port: number, localAddress = '127.0.0.1'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress }, () => {
      resolve(socket);
    });
    socket.on('error', reject);
  });
}

/** Resolves when the server has closed `socket`. */
function closedByServer(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed || socket.readableEnded) {
      resolve();
      return;
    }
    socket.once('close', () => {
      resolve();
    });
    socket.resume();
  });
}

function admissionReview(port: number, ca: string): Promise<number> {
  const body = JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid: 'u1', kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, operation: 'CREATE' },
  });
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/mutate',
        method: 'POST',
        ca,
        agent: false,
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        res.resume();
        res.on('end', () => {
          resolve(res.statusCode ?? 0);
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('webhook server under a connection flood', () => {
  it('closes connections beyond the bound and stalled ones within their deadlines, and keeps serving', async (t) => {
    const source = await certificates();
    const server = await startWebhookServer({
      host: '127.0.0.1',
      port: 0,
      certificates: source,
      handler,
      logger: pino({ level: 'silent' }),
      metrics: new Metrics(new Registry()),
      limits: LIMITS,
    });
    t.after(() => server.close());

    const rssBefore = process.memoryUsage().rss;
    const sockets = await Promise.all(Array.from({ length: FLOOD }, () => open(server.port).catch(() => undefined)));
    const flood = sockets.filter((s): s is Socket => s !== undefined);
    // None of them ever says a word: each is closed either at once (over the bound) or when its handshake deadline passes.
    const started = Date.now();
    await Promise.all(flood.map(closedByServer));
    const tookMs = Date.now() - started;
    assert.ok(tookMs < 10 * LIMITS.handshakeTimeoutMs, `idle connections were held ${tookMs}ms`);

    // A client that sends half its headers and stalls is dropped too (after the handshake).
    const slow = await new Promise<import('node:tls').TLSSocket>((resolve, reject) => {
      void import('node:tls').then(({ connect: tlsConnect }) => {
        const socket = tlsConnect({ host: '127.0.0.1', port: server.port, ca: source.caBundle() }, () => {
          resolve(socket);
        });
        socket.on('error', reject);
      });
    });
    slow.write('POST /mutate HTTP/1.1\r\nHost: x\r\n');
    await closedByServer(slow);

    assert.equal(
      await admissionReview(server.port, source.caBundle() ?? ''),
      200,
      'the webhook still answers after the flood',
    );
    t.diagnostic(
      `flood of ${FLOOD} idle connections closed within ${tookMs}ms; test process RSS ${Math.round(rssBefore / 2 ** 20)} → ${Math.round(process.memoryUsage().rss / 2 ** 20)} MiB`,
    );
  });
});

describe('webhook server facing one client holding handshakes', () => {
  it('gives one address (a pod) at most its share of the connections: the API server is still answered while they are held', async (t) => {
    const source = await certificates();
    // Handshakes are never given up on within this test: only the per-client bound can free the slots.
    const limits = { ...LIMITS, maxConnectionsPerClient: 10, handshakeTimeoutMs: 600_000 };
    // Destroyed before the server closes (hooks run in order): it would wait for their handshakes.
    const sockets: Socket[] = [];
    t.after(() => {
      for (const socket of sockets) socket.destroy();
    });
    const server = await startWebhookServer({
      host: '127.0.0.1',
      port: 0,
      certificates: source,
      handler,
      logger: pino({ level: 'silent' }),
      metrics: new Metrics(new Registry()),
      limits,
    });
    t.after(() => server.close());
    // A pod at 127.0.0.2 opens more connections than the whole server allows, and never starts a handshake.
    sockets.push(
      ...(
        await Promise.all(Array.from({ length: 100 }, () => open(server.port, '127.0.0.2').catch(() => undefined)))
      ).filter((s): s is Socket => s !== undefined),
    );
    let closed = 0;
    for (const socket of sockets) void closedByServer(socket).then(() => closed++);
    await until(
      () => closed >= sockets.length - limits.maxConnectionsPerClient,
      'the connections over its share to be closed',
    );
    assert.equal(
      await admissionReview(server.port, source.caBundle() ?? ''),
      200,
      'answered while the pod holds its share',
    );
    assert.equal(sockets.length - closed, limits.maxConnectionsPerClient, 'its share is still held');
  });
});

function tlsSession(port: number, ca: string): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca }, () => {
      resolve(socket);
    });
    socket.on('error', reject);
  });
}

describe('webhook server shutdown', () => {
  // The grace period is far longer than the tests' deadline: waiting it out fails them.
  const LONG_HANDSHAKES = {
    ...LIMITS,
    handshakeTimeoutMs: 600_000,
    headersTimeoutMs: 600_000,
    requestTimeoutMs: 600_000,
    keepAliveTimeoutMs: 600_000,
  };

  it(
    'closes a TLS connection that never carried a request at once, not after the grace period',
    { timeout: 4000 },
    async () => {
      const source = await certificates();
      const server = await startWebhookServer({
        host: '127.0.0.1',
        port: 0,
        certificates: source,
        handler,
        logger: pino({ level: 'silent' }),
        metrics: new Metrics(new Registry()),
        limits: LONG_HANDSHAKES,
      });
      const unused = await tlsSession(server.port, source.caBundle() ?? '');
      await Promise.all([server.close(), closedByServer(unused)]);
    },
  );

  it('lets an admission in flight finish before it closes the connection', { timeout: 4000 }, async () => {
    const source = await certificates();
    let release = (): void => undefined;
    const admitted = new Promise<void>((resolve) => {
      release = resolve;
    });
    let arrived = (): void => undefined;
    const arrival = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    const slowHandler = {
      admit: async (r: { uid: string }) => {
        arrived();
        await admitted;
        return { uid: r.uid, allowed: true };
      },
    } as unknown as AdmissionHandler;
    const server = await startWebhookServer({
      host: '127.0.0.1',
      port: 0,
      certificates: source,
      handler: slowHandler,
      logger: pino({ level: 'silent' }),
      metrics: new Metrics(new Registry()),
      limits: LONG_HANDSHAKES,
    });
    const answer = admissionReview(server.port, source.caBundle() ?? '');
    await arrival;
    const closing = server.close();
    release();
    assert.equal(await answer, 200, 'the admission in flight was answered');
    await closing;
  });
});
