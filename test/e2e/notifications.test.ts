// Notifications on the local control plane, with local receivers standing in
// for Slack, Teams, Google Chat and a CloudEvents endpoint: a ConfigMap change
// gives exactly one well-formed message per sink, and none holds a value; a
// failing sink is retried, a 429 waited out, a hanging one given up without
// delaying the rollout; the Secret is followed as it changes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CONFIGHASH_NAMESPACE, startConfighashForTest } from '../support/confighash.ts';
import { waitForEvents } from '../support/kube-objects.ts';
import { apply, kubectl, testNamespace, waitFor } from '../support/kube.ts';
import {
  cloudEventProblems,
  googleChatProblems,
  slackProblems,
  teamsProblems,
} from '../support/notification-shapes.ts';
import { configureNotifications, notificationCount, waitForSink } from '../support/notifications.ts';
import { type Receiver, startReceiver } from '../support/receiver.ts';
import { revisionCount, settledRevisions, waitForRevisions } from '../support/rollouts.ts';
import { configMap, secret, workload } from '../support/workloads.ts';

const ENABLED = { 'confighash.dev/enabled': 'true' };
const CANARY = 'canary-7d1e4b-value';

/** web reads LEVEL from configmap/app and PASSWORD from secret/db. */
const app = (): object =>
  workload('Deployment', 'web', {
    env: [
      { name: 'LEVEL', valueFrom: { configMapKeyRef: { name: 'app', key: 'LEVEL' } } },
      { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'db', key: 'PASSWORD' } } },
    ],
  });

const change = (ns: string, level: string): Promise<string> =>
  kubectl(['patch', 'configmap', 'app', '-n', ns, '--type=merge', '-p', JSON.stringify({ data: { LEVEL: level } })]);

async function installApp(ns: string): Promise<void> {
  await apply(
    ns,
    configMap('app', { LEVEL: `info-${CANARY}`, UNUSED: CANARY }),
    secret('db', { PASSWORD: `pw-${CANARY}` }),
    app(),
  );
}

describe('notifications', () => {
  it('a ConfigMap change gives exactly one well-formed message per sink, naming the change, never a value', async (t) => {
    const receivers: Record<string, Receiver> = {};
    for (const type of ['slack', 'teams', 'google-chat', 'cloudevents']) receivers[type] = await startReceiver(t);
    // Each test's sinks hear of its own namespace only: others' teardown is not its business.
    const ns = await testNamespace(t, ENABLED);
    await configureNotifications(
      t,
      Object.entries(receivers).map(([type, receiver]) => ({ name: type, type, url: receiver.url, namespaces: [ns] })),
    );
    const confighash = await startConfighashForTest(t, ['--coalesce-window=0']);
    for (const type of Object.keys(receivers)) await waitForSink(confighash.metricsUrl, type);
    await installApp(ns);
    assert.equal(await settledRevisions(ns, 'Deployment', 'web', confighash.metricsUrl), 1);

    await change(ns, `debug-${CANARY}`);
    await waitForRevisions(ns, 'Deployment', 'web', 2);
    assert.equal(await settledRevisions(ns, 'Deployment', 'web', confighash.metricsUrl), 2);
    for (const [type, receiver] of Object.entries(receivers)) {
      await receiver.received(1);
      await waitFor(
        `the ${type} sink to be idle`,
        async () => (await notificationCount(confighash.metricsUrl, type, 'sent')) === 1 || undefined,
      );
      assert.equal(receiver.requests.length, 1, `${type}: exactly one message`);
    }
    const [slack, teams, chat, cloudevents] = [
      receivers['slack'],
      receivers['teams'],
      receivers['google-chat'],
      receivers['cloudevents'],
    ].map((r) => r?.requests[0]);
    assert.ok(slack);
    assert.ok(teams);
    assert.ok(chat);
    assert.ok(cloudevents);
    assert.deepEqual(slackProblems(slack.json), []);
    assert.deepEqual(teamsProblems(teams.json, Buffer.byteLength(teams.body)), []);
    assert.deepEqual(googleChatProblems(chat.json), []);
    assert.deepEqual(cloudEventProblems(cloudevents.json, cloudevents.contentType), []);

    const event = cloudevents.json as {
      type: string;
      subject: string;
      data: {
        workload: { namespace: string; name: string };
        trigger: string;
        changes: { source: string; keys?: string[] }[];
      };
    };
    assert.equal(event.type, 'dev.confighash.rollout.started');
    assert.equal(event.subject, `namespaces/${ns}/deployments/web`);
    assert.deepEqual(
      event.data.changes.map((c) => [c.source, c.keys]),
      [['configmap/app', ['LEVEL']]],
    );
    assert.equal(event.data.trigger, 'configuration-change');
    for (const request of [slack, teams, chat])
      assert.match(request.body, /configmap\/app \([0-9a-f]{12} → [0-9a-f]{12}, keys LEVEL\)/);
    // The canary is in every value the workload consumes, and in one it does not: in no message.
    for (const request of [slack, teams, chat, cloudevents])
      assert.ok(!request.body.includes(CANARY), `a value in ${request.body}`);
  });

  it("retries a sink answering 500, waits out a 429's Retry-After, and gives a hanging sink up without delaying the rollout", async (t) => {
    const failing = await startReceiver(t, (n) => ({ status: n === 0 ? 500 : 200 }));
    const limited = await startReceiver(t, (n) =>
      n === 0 ? { status: 429, headers: { 'retry-after': '2' } } : { status: 200 },
    );
    const hanging = await startReceiver(t, () => 'hang');
    const ns = await testNamespace(t, ENABLED);
    await configureNotifications(t, [
      { name: 'failing', type: 'cloudevents', url: failing.url, namespaces: [ns] },
      { name: 'limited', type: 'cloudevents', url: limited.url, namespaces: [ns] },
      { name: 'hanging', type: 'cloudevents', url: hanging.url, timeout: '1s', retryFor: '4s', namespaces: [ns] },
    ]);
    const confighash = await startConfighashForTest(t, ['--coalesce-window=0']);
    for (const sink of ['failing', 'limited', 'hanging']) await waitForSink(confighash.metricsUrl, sink);
    await installApp(ns);
    assert.equal(await settledRevisions(ns, 'Deployment', 'web', confighash.metricsUrl), 1);

    await change(ns, 'debug');
    // The rollout does not wait for any sink: it is there while the hanging one has not answered once.
    await waitForRevisions(ns, 'Deployment', 'web', 2);
    assert.equal(await notificationCount(confighash.metricsUrl, 'hanging', 'failed'), 0);

    const [first500, retried] = await failing.received(2);
    assert.equal(first500?.body, retried?.body, 'the same message again');
    const [first429, after429] = await limited.received(2);
    assert.ok(first429);
    assert.ok(after429);
    assert.ok(
      after429.at - first429.at >= 1990,
      `tried again ${after429.at - first429.at} ms after a 429 with Retry-After: 2`,
    );
    await waitFor(
      'the hanging sink to be given up',
      async () => (await notificationCount(confighash.metricsUrl, 'hanging', 'failed')) === 1 || undefined,
    );
    assert.deepEqual(
      [
        await notificationCount(confighash.metricsUrl, 'failing', 'sent'),
        await notificationCount(confighash.metricsUrl, 'limited', 'sent'),
        await notificationCount(confighash.metricsUrl, 'hanging', 'sent'),
      ],
      [1, 1, 0],
    );
    assert.equal(failing.requests.length, 2, 'delivered once, not again');
    assert.equal(await revisionCount(ns, 'Deployment', 'web'), 2);
  });

  it('follows the Secret: nothing is sent without it, a new sink is used, and a wrong one is told on the Secret', async (t) => {
    const receiver = await startReceiver(t);
    t.after(() =>
      kubectl([
        'delete',
        'events',
        '-n',
        CONFIGHASH_NAMESPACE,
        '--field-selector',
        'reason=InvalidNotificationSettings',
      ]),
    );
    const confighash = await startConfighashForTest(t, ['--coalesce-window=0']);
    const ns = await testNamespace(t, ENABLED);
    await installApp(ns);
    await change(ns, 'one');
    await waitForRevisions(ns, 'Deployment', 'web', 2);
    assert.equal(await settledRevisions(ns, 'Deployment', 'web', confighash.metricsUrl), 2);

    await configureNotifications(t, [
      { name: 'later', type: 'google-chat', url: receiver.url, namespaces: [ns] },
      { name: 'wrong', type: 'pager', url: `${receiver.url}/${CANARY}` },
    ]);
    await waitForSink(confighash.metricsUrl, 'later');
    const [invalid] = await waitForEvents(CONFIGHASH_NAMESPACE, 'InvalidNotificationSettings');
    assert.match(invalid?.message ?? '', /sinks\[1\] \(wrong\): type "pager" is not one of/);
    assert.ok(!(invalid?.message ?? '').includes(CANARY), 'the Event quotes a URL');
    await change(ns, 'two');
    await waitForRevisions(ns, 'Deployment', 'web', 3);
    const [message] = await receiver.received(1);
    assert.match((message?.json as { text: string }).text, /Rolling out new configuration/);
    assert.equal(receiver.requests.length, 1, 'the change made before the Secret existed was not told');
  });
});
