// Direct HTTPS requests to confighash's webhook, trusting the CA it publishes,
// for tests of its HTTP behaviour and of the certificate it serves.
import { connect, type PeerCertificate } from 'node:tls';
import { kubectl } from './kube.ts';

/** The CA bundle in the webhook configuration `confighash`. */
export async function publishedCaBundle(): Promise<string> {
  const base64 = await kubectl([
    'get',
    'mutatingwebhookconfiguration',
    'confighash',
    '-o',
    'jsonpath={.webhooks[0].clientConfig.caBundle}',
  ]);
  return Buffer.from(base64, 'base64').toString('utf8');
}

export interface HttpResult {
  status: number;
  body: string;
}

/**
 * POSTs `body` over a raw TLS connection (HTTP/1.1, Connection: close) and reads
 * until the server closes. A body over 1 MiB is announced (Content-Length) but
 * never sent: a server must refuse it from the headers alone (413), and an HTTP
 * client would report only EPIPE for the answer it sends before reading the body.
 */
export function post(
  url: string,
  ca: string,
  body: string | Buffer,
  options: { contentType?: string; client?: { cert: string; key: string } } = {},
): Promise<HttpResult> {
  const { contentType = 'application/json', client } = options;
  const { hostname, port, pathname } = new URL(url);
  const payload = typeof body === 'string' ? Buffer.from(body) : body;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect({ host: hostname, port: Number(port), ca, ...client }, () => {
      socket.write(
        `POST ${pathname} HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: ${contentType}\r\n` +
          `Content-Length: ${payload.length}\r\nConnection: close\r\n\r\n`,
      );
      // Written, not ended: a half-closed connection is closed by the server before an answer that takes a read.
      if (payload.length <= 1024 * 1024) socket.write(payload);
    });
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // Writes fail once the server has answered early and closed; its answer was read already.
      if (error.code !== 'EPIPE' && error.code !== 'ECONNRESET') reject(error);
    });
    socket.on('close', () => {
      const response = Buffer.concat(chunks).toString('utf8');
      const status = /^HTTP\/1\.1 (\d{3})/.exec(response)?.[1];
      if (!status) reject(new Error(`no HTTP response: ${response.slice(0, 200)}`));
      else resolve({ status: Number(status), body: response.slice(response.indexOf('\r\n\r\n') + 4) });
    });
  });
}

/** The certificate served at `url`, verified against `ca`. */
export function servedCertificate(url: string, ca: string): Promise<PeerCertificate> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), ca }, () => {
      resolve(socket.getPeerCertificate());
      socket.end();
    });
    socket.on('error', reject);
  });
}
