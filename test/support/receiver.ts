// A webhook endpoint on loopback that stands in for Slack, Teams, Google Chat or
// a CloudEvents receiver: it records every request and answers as told (a
// status and headers, or never, for a sink that hangs).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { TestContext } from 'node:test';

export interface ReceivedRequest {
  at: number;
  path: string;
  contentType: string | undefined;
  body: string;
  json: unknown;
}

export type Answer = { status: number; headers?: Record<string, string> } | 'hang';

export interface Receiver {
  url: string;
  requests: ReceivedRequest[];
  /** Resolves with the requests once there are `count`; rejects after the deadline. */
  received(count: number, timeoutMs?: number): Promise<ReceivedRequest[]>;
}

/** Starts a receiver, closed when the test ends; `answer(n)` answers the n-th request (from 0); 200 by default. */
export async function startReceiver(
  t: TestContext,
  answer: (n: number) => Answer = () => ({ status: 200 }),
): Promise<Receiver> {
  const requests: ReceivedRequest[] = [];
  const waiters = new Set<() => void>();
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        json = undefined;
      }
      const reply = answer(requests.length);
      requests.push({
        at: Date.now(),
        path: request.url ?? '',
        contentType: request.headers['content-type'],
        body,
        json,
      });
      for (const wake of waiters) wake();
      if (reply === 'hang') return;
      response.writeHead(reply.status, reply.headers).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  );
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/hooks/T000/B000/secret-token`,
    requests,
    received: (count, timeoutMs = 30_000) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          if (requests.length < count) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(requests.slice(0, count));
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(
              `timed out after ${timeoutMs}ms waiting for ${count} requests at the receiver (got ${requests.length})`,
            ),
          );
        }, timeoutMs);
        waiters.add(check);
        check();
      }),
  };
}
