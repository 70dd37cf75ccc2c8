import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { describe, it, type TestContext } from 'node:test';
import { pino } from 'pino';
import { HttpApprover } from './approval.ts';

/** A loopback server answering every request with `answer`; counts its requests. */
async function server(
  t: TestContext,
  answer: (response: import('node:http').ServerResponse) => void,
): Promise<{ url: string; requests: () => number }> {
  let requests = 0;
  const s: Server = createServer((request, response) => {
    requests++;
    request.resume();
    answer(response);
  });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) =>
        s.close(() => {
          resolve();
        }),
      ),
  );
  const address = s.address();
  return {
    url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
    requests: () => requests,
  };
}

const REQUEST = {
  workload: { kind: 'Deployment', namespace: 'app', name: 'web', uid: 'u' },
  checksum: { from: undefined, to: 'v2:x' },
  changes: [],
};

describe('HttpApprover', () => {
  it("follows no redirect, and logs the hook's origin, never its path or token", async (t) => {
    const elsewhere = await server(t, (response) => response.end('{"allowed":true}'));
    const hook = await server(t, (response) => {
      response.statusCode = 307;
      response.setHeader('location', `${elsewhere.url}/steal`);
      response.end();
    });
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const approver = new HttpApprover({
      url: `${hook.url}/approve?token=s3cr3t-token`,
      timeoutMs: 2_000,
      failurePolicy: 'defer',
      logger,
    });
    const decision = await approver.review(REQUEST);
    assert.equal(decision.allowed, false);
    assert.match(decision.reason, /HTTP 307: a redirect, not followed/);
    assert.equal(elsewhere.requests(), 0, 'the redirect target was never called');
    assert.equal(lines.join('').includes('s3cr3t-token'), false);
    assert.match(lines.join(''), new RegExp(hook.url.replaceAll('.', '\\.')));
  });

  it('refuses an answer too long to be one', async (t) => {
    const hook = await server(t, (response) => response.end(`{"allowed":true,"reason":"${'x'.repeat(100_000)}"}`));
    const approver = new HttpApprover({
      url: hook.url,
      timeoutMs: 2_000,
      failurePolicy: 'defer',
      logger: pino({ level: 'silent' }),
    });
    assert.match((await approver.review(REQUEST)).reason, /longer than 65536 bytes/);
  });
});
