// A flood of confighash's webhook port, bounded in count and time, over loopback:
// while 10,000 connections are held, /healthz and /readyz keep answering (the
// kubelet would otherwise restart the pod); afterwards the webhook serves the API
// server again and the process's memory comes back below a stated bound.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { describe, it } from 'node:test';
import { startConfighashForTest } from '../support/confighash.ts';
import { publishedCaBundle } from '../support/https.ts';
import { apply, kubectl, testNamespace, waitFor } from '../support/kube.ts';
import { configMap, workload } from '../support/workloads.ts';

const RAW_CONNECTIONS = 10_000;
const TLS_CONNECTIONS = 300;
/** What the flood may leave behind in confighash's resident memory. */
const RSS_BOUND_MIB = 64;

async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? 0) / 1024;
}

function open(port: number): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      resolve(socket);
    });
    socket.on('error', () => {
      resolve(undefined);
    });
  });
}

/** A connection that completes its TLS handshake and then says nothing. */
function openTls(port: number, ca: string): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca }, () => {
      resolve(socket);
    });
    socket.on('error', () => {
      resolve(undefined);
    });
  });
}

async function status(url: string): Promise<number> {
  return (await fetch(url, { signal: AbortSignal.timeout(2000) })).status;
}

describe('flood of the webhook port', () => {
  it('keeps the health endpoints answering, serves again afterwards, and returns its memory', async (t) => {
    const confighash = await startConfighashForTest(t);
    const ns = await testNamespace(t, { 'confighash.dev/enabled': 'true' });
    const port = Number(new URL(confighash.webhookUrl).port);
    const ca = await publishedCaBundle();
    await apply(ns, configMap('app', { a: '1' }));
    const probe = JSON.stringify(workload('Deployment', 'web', { envFrom: [{ configMapRef: { name: 'app' } }] }));
    const stamped = async (): Promise<boolean> =>
      (await kubectl(['create', '-n', ns, '--dry-run=server', '-o', 'json', '-f', '-'], probe)).includes(
        'confighash.dev/checksum',
      );
    assert.ok(await stamped());
    const before = await rssMiB(confighash.pid);

    const sockets: Socket[] = [];
    t.after(() => {
      for (const socket of sockets) socket.destroy();
    });
    for (let opened = 0; opened < RAW_CONNECTIONS; opened += 500) {
      const batch = await Promise.all(Array.from({ length: 500 }, () => open(port)));
      sockets.push(...batch.filter((s): s is Socket => s !== undefined));
    }
    const tls = await Promise.all(Array.from({ length: TLS_CONNECTIONS }, () => openTls(port, ca)));
    sockets.push(...tls.filter((s): s is Socket => s !== undefined));
    for (let i = 0; i < 10; i++) {
      assert.equal(await status(`${confighash.metricsUrl}/healthz`), 200, 'healthz during the flood');
      assert.equal(await status(`${confighash.metricsUrl}/readyz`), 200, 'readyz during the flood');
    }
    const peak = await rssMiB(confighash.pid);

    for (const socket of sockets) socket.destroy();
    await waitFor('the webhook to stamp again', async () => (await stamped()) || undefined);
    const after = await waitFor(
      `RSS within ${RSS_BOUND_MIB} MiB of before the flood`,
      async () => {
        const now = await rssMiB(confighash.pid);
        return now <= before + RSS_BOUND_MIB ? now : undefined;
      },
      60_000,
    );
    t.diagnostic(
      `${sockets.length} connections held; RSS ${before.toFixed(0)} → ${peak.toFixed(0)} (flood) → ${after.toFixed(0)} MiB`,
    );
  });
});
