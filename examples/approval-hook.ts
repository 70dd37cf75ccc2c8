// An example approval hook for confighash (--approval-url http://HOST:8090/approve):
// it allows config rollouts on weekdays from 09:00 to 17:00 UTC, and denies them
// otherwise, saying when to ask again. Run it with `node examples/approval-hook.ts`.
// The request and response are docs/schemas/approval-{request,response}.schema.json.
import { createServer } from 'node:http';

const PORT = Number(process.env['PORT'] ?? 8090);
const OPEN_HOURS = { from: 9, to: 17 };

interface Request {
  workload: { kind: string; namespace: string; name: string };
  changes: { source: string; keys?: string[] }[];
}

function decide(request: Request, now: Date): { allowed: boolean; reason?: string; retryAfterSeconds?: number } {
  const weekday = now.getUTCDay() >= 1 && now.getUTCDay() <= 5;
  const hour = now.getUTCHours();
  if (weekday && hour >= OPEN_HOURS.from && hour < OPEN_HOURS.to) return { allowed: true };
  const what = request.changes.map((c) => `${c.source}${c.keys ? ` (${c.keys.join(', ')})` : ''}`).join(', ');
  return {
    allowed: false,
    reason: `outside change hours (weekdays ${OPEN_HOURS.from}:00-${OPEN_HOURS.to}:00 UTC): ${what}`,
    retryAfterSeconds: 600,
  };
}

createServer((request, response) => {
  let body = '';
  request.on('data', (chunk: Buffer) => (body += chunk.toString()));
  request.on('end', () => {
    const parsed = JSON.parse(body) as Request;
    const answer = decide(parsed, new Date());
    process.stdout.write(
      `${parsed.workload.kind} ${parsed.workload.namespace}/${parsed.workload.name}: ${answer.allowed ? 'allowed' : 'denied'}\n`,
    );
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify(answer));
  });
}).listen(PORT, () => {
  process.stdout.write(`approval hook listening on :${PORT}\n`);
});
