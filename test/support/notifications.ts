// The notifications Secret for end-to-end tests: written to confighash's
// namespace as a user writes it, removed when the test ends.
import type { TestContext } from 'node:test';
import { CONFIGHASH_NAMESPACE, metricValue, namespaceManifest } from './confighash.ts';
import { kubectl, waitFor } from './kube.ts';

/** Writes `sinks` (objects as in config.yaml) to the Secret confighash-notifications. */
export async function configureNotifications(t: TestContext, sinks: object[]): Promise<void> {
  const secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'confighash-notifications', namespace: CONFIGHASH_NAMESPACE },
    // JSON is YAML: the test writes what a user would, without a YAML library.
    stringData: { 'config.yaml': JSON.stringify({ sinks }) },
  };
  await kubectl(['apply', '-f', '-'], JSON.stringify(namespaceManifest(CONFIGHASH_NAMESPACE, {})));
  await kubectl(['apply', '-f', '-'], JSON.stringify(secret));
  t.after(() =>
    kubectl(['delete', 'secret', 'confighash-notifications', '-n', CONFIGHASH_NAMESPACE, '--ignore-not-found']),
  );
}

/** Waits until confighash has set up the sink (it exports the sink's counters from then on). */
export async function waitForSink(metricsUrl: string, sink: string): Promise<void> {
  await waitFor(
    `confighash to set up the notification sink ${sink}`,
    async () =>
      (await metricValue(metricsUrl, `confighash_notifications_total{sink="${sink}",result="sent"}`)) >= 0 || undefined,
  );
}

export function notificationCount(
  metricsUrl: string,
  sink: string,
  result: 'sent' | 'failed' | 'dropped',
): Promise<number> {
  return metricValue(metricsUrl, `confighash_notifications_total{sink="${sink}",result="${result}"}`);
}
