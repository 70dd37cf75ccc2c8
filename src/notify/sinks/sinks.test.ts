import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  cloudEventProblems,
  googleChatProblems,
  slackProblems,
  teamsProblems,
} from '../../../test/support/notification-shapes.ts';
import { makeNotice, type Notice, NOTICE_TYPES } from '../notice.ts';
import { SINK_FORMATS } from './index.ts';

const WORKLOAD = { kind: 'Deployment', namespace: 'shop', name: 'web', uid: '6f1c2d3e-0000-4000-8000-000000000001' };
const CHECKSUM = `v2:3f9a01bc:${'5e0c2f7a1b3d'.repeat(5).slice(0, 64)}`;

/** One notice of each type, with every field its type carries. */
function notices(): Notice[] {
  const changes = [
    { source: 'configmap/app', from: '1f3a9c0e2b7d', to: '5e0c2f7a1b3d', keys: ['LOG_LEVEL', 'timeout.conf'] },
  ];
  const fields: Record<string, object> = {
    'rollout.started': {
      checksum: CHECKSUM,
      previousChecksum: CHECKSUM.replace('5e0c', '1f3a'),
      changes,
      trigger: 'configuration-change',
    },
    'rollout.completed': { checksum: CHECKSUM, durationSeconds: 42 },
    'rollout.failed': {
      checksum: CHECKSUM,
      durationSeconds: 600,
      reason: 'ProgressDeadlineExceeded: ReplicaSet "web-7c9" has timed out progressing',
    },
    'rollout.deferred': { checksum: CHECKSUM, changes, reason: 'window', detail: 'window opens Sat 02:00 UTC' },
    'reload.succeeded': { changes, pods: 3 },
    'reload.failed': { changes, reason: 'pod web-1: POST http://127.0.0.1:9090/-/reload: HTTP 500' },
    'source.missing': {
      missing: [
        { source: 'secret/db', state: 'deleted' },
        { source: 'configmap/extra', state: 'absent' },
      ],
    },
  };
  return NOTICE_TYPES.map((type) =>
    makeNotice(type, WORKLOAD, 'x', { summary: `Something about <${type}> & more.`, ...fields[type] }),
  );
}

function render(sink: string, notice: Notice): { contentType: string; body: unknown; bytes: number } {
  const format = SINK_FORMATS[sink];
  assert.ok(format, sink);
  const message = format.render(notice);
  return { contentType: message.contentType, body: JSON.parse(message.body), bytes: Buffer.byteLength(message.body) };
}

describe('notification sinks', () => {
  it("Slack: blocks within Block Kit's limits, mrkdwn escaped, a text fallback", () => {
    for (const notice of notices()) {
      const { body } = render('slack', notice);
      assert.deepEqual(slackProblems(body), [], notice.type);
    }
    const [started] = notices();
    const text = JSON.stringify(render('slack', started as Notice).body);
    assert.match(text, /&lt;rollout\.started&gt; &amp; more/);
    assert.match(text, /configmap\/app \(1f3a9c0e2b7d → 5e0c2f7a1b3d, keys LOG_LEVEL, timeout\.conf\)/);
  });

  it('Slack: many changed sources are spread over sections of at most ten fields, and the rest counted', () => {
    const changes = Array.from({ length: 25 }, (_, i) => ({
      source: `configmap/c${i}`,
      from: '1f3a9c0e2b7d',
      to: '5e0c2f7a1b3d',
    }));
    const notice = makeNotice('rollout.started', WORKLOAD, 'many', {
      summary: 'Rolling out.',
      checksum: CHECKSUM,
      changes,
      trigger: 'configuration-change',
    });
    const { body } = render('slack', notice);
    assert.deepEqual(slackProblems(body), []);
    assert.match(JSON.stringify(body), /and 15 more sources/);
  });

  it('Teams: one Adaptive Card that is valid for the version it declares', () => {
    for (const notice of notices()) {
      const { body, bytes } = render('teams', notice);
      assert.deepEqual(teamsProblems(body, bytes), [], notice.type);
      assert.equal(
        (body as { attachments: { content: { version: string } }[] }).attachments[0]?.content.version,
        '1.4',
      );
    }
  });

  it("shows a tenant's text as itself: a forged agent error mentions no one, links nowhere, and is bounded", () => {
    const forged = `<users/all> [click](http://evil.example) **now** ${'x'.repeat(5000)}`;
    const notice = makeNotice('reload.failed', WORKLOAD, 'f', {
      summary: `Reload in place failed: pod web-1: ${forged}`,
      reason: forged,
    });
    const chat = JSON.stringify(render('google-chat', notice).body);
    assert.equal(chat.includes('<users/all>'), false);
    assert.match(chat, /‹users\/all›/);
    const card = render('teams', notice);
    const teamsText = JSON.stringify(card.body);
    assert.equal(teamsText.includes('[click](http'), false, 'no Markdown link');
    assert.match(teamsText, /\\\\\[click\\\\\]\(http/);
    assert.ok(card.bytes < 8000, `bounded: ${card.bytes} bytes`);
  });

  it('Google Chat: a text message', () => {
    for (const notice of notices())
      assert.deepEqual(googleChatProblems(render('google-chat', notice).body), [], notice.type);
  });

  it('CloudEvents: structured mode with every required attribute, the type dev.confighash.<type>, and data per its schema', () => {
    for (const notice of notices()) {
      const { body, contentType } = render('cloudevents', notice);
      assert.deepEqual(cloudEventProblems(body, contentType), [], notice.type);
      const event = body as { type: string; id: string; subject: string };
      assert.equal(event.type, `dev.confighash.${notice.type}`);
      assert.equal(event.id, notice.id);
      assert.equal(event.subject, 'namespaces/shop/deployments/web');
    }
  });

  it('the schema checks can fail: a wrong message is caught', () => {
    assert.notDeepEqual(
      slackProblems({ text: 'x', blocks: [{ type: 'header', text: { type: 'mrkdwn', text: 'x'.repeat(151) } }] }),
      [],
    );
    assert.notDeepEqual(googleChatProblems({ text: '' }), []);
    assert.notDeepEqual(
      cloudEventProblems({ specversion: '0.3', id: 'x', source: 's', type: 'dev.confighash.x' }, 'application/json'),
      [],
    );
    const card = (body: object[]): object => ({
      type: 'message',
      attachments: [
        {
          contentType: 'application/vnd.microsoft.card.adaptive',
          content: { type: 'AdaptiveCard', version: '1.4', body },
        },
      ],
    });
    // Table is Adaptive Cards 1.5: not in the 1.4 card confighash declares.
    assert.notDeepEqual(teamsProblems(card([{ type: 'Table', columns: [] }]), 100), []);
    assert.notDeepEqual(teamsProblems(card([{ type: 'TextBlock', text: 'x', color: 'Purple' }]), 100), []);
  });
});

describe('notice ids', () => {
  it('are the same for the same type, workload and subject, and differ otherwise', () => {
    const a = makeNotice('rollout.started', WORKLOAD, `${CHECKSUM} 2026-12-01T10:00:00.000Z`, { summary: 'a' });
    const b = makeNotice('rollout.started', WORKLOAD, `${CHECKSUM} 2026-12-01T10:00:00.000Z`, { summary: 'b' });
    const later = makeNotice('rollout.started', WORKLOAD, `${CHECKSUM} 2026-12-01T11:00:00.000Z`, { summary: 'a' });
    const completed = makeNotice('rollout.completed', WORKLOAD, `${CHECKSUM} 2026-12-01T10:00:00.000Z`, {
      summary: 'a',
    });
    assert.equal(a.id, b.id);
    assert.equal(new Set([a.id, later.id, completed.id]).size, 3);
    assert.match(a.id, /^[0-9a-f]{32}$/);
  });
});
