import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseNotificationSettings } from './settings.ts';

const TOKEN = 'T000/B000/very-secret-token';

describe('notification settings', () => {
  it('reads each sink with its filters, durations and defaults', () => {
    const settings = parseNotificationSettings(`
sinks:
  - name: team-chat
    type: slack
    url: https://hooks.slack.com/services/${TOKEN}
    events: [rollout.failed, reload.failed]
    namespaces: [shop]
    timeout: 5s
    retryFor: 2m
  - name: automation
    type: cloudevents
    url: http://127.0.0.1:8080/events
`);
    assert.deepEqual(settings.problems, []);
    const [chat, automation] = settings.sinks;
    assert.deepEqual(chat, {
      name: 'team-chat',
      type: 'slack',
      url: `https://hooks.slack.com/services/${TOKEN}`,
      events: new Set(['rollout.failed', 'reload.failed']),
      namespaces: new Set(['shop']),
      timeoutMs: 5000,
      retryForMs: 120_000,
    });
    assert.deepEqual(automation, {
      name: 'automation',
      type: 'cloudevents',
      url: 'http://127.0.0.1:8080/events',
      timeoutMs: 10_000,
      retryForMs: 600_000,
    });
  });

  it('leaves a wrong sink out, says why without quoting its URL, and keeps the others', () => {
    const settings = parseNotificationSettings(`
sinks:
  - { name: ok, type: teams, url: "https://example.invalid/workflows/${TOKEN}" }
  - { name: bad-type, type: pagerduty, url: "https://example.invalid/${TOKEN}" }
  - { name: bad-url, type: slack, url: "ftp://example.invalid/${TOKEN}" }
  - { name: bad-event, type: slack, url: "https://example.invalid/${TOKEN}", events: [rollout.exploded] }
  - { name: bad-timeout, type: slack, url: "https://example.invalid/${TOKEN}", timeout: "0" }
  - { name: ok, type: slack, url: "https://example.invalid/${TOKEN}" }
  - { name: "Not A Name", type: slack, url: "https://example.invalid/${TOKEN}" }
  - just a string
`);
    assert.deepEqual(
      settings.sinks.map((s) => s.name),
      ['ok'],
    );
    assert.equal(settings.problems.length, 7);
    assert.match(
      settings.problems[0] ?? '',
      /^sinks\[1\] \(bad-type\): type "pagerduty" is not one of slack, teams, google-chat, cloudevents$/,
    );
    assert.match(settings.problems[1] ?? '', /url must be http or https/);
    assert.match(settings.problems[2] ?? '', /events: "rollout.exploded" is not one of rollout.started/);
    assert.match(settings.problems[3] ?? '', /timeout must be more than 0/);
    assert.match(settings.problems[4] ?? '', /another sink is named "ok"/);
    assert.match(settings.problems[5] ?? '', /^sinks\[6\]: name must be/);
    assert.match(settings.problems[6] ?? '', /^sinks\[7\]: is not a mapping/);
    for (const problem of settings.problems) assert.ok(!problem.includes('secret-token'), problem);
  });

  it('refuses a document that is not YAML, or has no sinks, without quoting it', () => {
    assert.throws(
      () => parseNotificationSettings(`sinks: [ { url: "https://x/${TOKEN}"`),
      (error: Error) => /^config\.yaml is not YAML: /.test(error.message) && !error.message.includes('secret-token'),
    );
    assert.throws(() => parseNotificationSettings('receivers: []'), /has no list "sinks"/);
  });
});
