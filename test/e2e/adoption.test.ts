// Adoption never swallows a change: a workload confighash adopts instead of
// stamping at admission rolls once when a source it consumes changed after the
// workload was created, however soon after, and not at all when nothing changed.
// Adversarially, per kind: many workloads created and their ConfigMaps updated right
// after, on the two paths that adopt — Reloader's annotations in a namespace outside
// the selector (the webhook is never called; the controller sees the creation), and
// a webhook that does not answer (confighash down: the API server fails open, and
// the controller starts afterwards) — beside as many created with their ConfigMaps
// and never changed. Exactly one rollout for each changed one, none for the others.
//
// "A rollout" is confighash's: the template it stamps (with its record,
// confighash.dev/rollout) and its count of rollouts. New ReplicaSets alone cannot
// tell: under this load kube-controller-manager may first sync a Deployment after
// confighash has already stamped it, and then the one ReplicaSet it creates runs the
// new configuration.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { type ConfighashProcess, metricValue, observedVersion, startConfighashForTest } from '../support/confighash.ts';
import { apply, kubectl, kubectlJson, testNamespace, waitFor } from '../support/kube.ts';
import { waitForIdle } from '../support/rollouts.ts';
import { configMap, type ObjectList, workload, type WorkloadKind } from '../support/workloads.ts';

const KINDS: readonly WorkloadKind[] = ['Deployment', 'StatefulSet', 'DaemonSet'];
/** Per kind and path: workloads whose ConfigMap changes right after they are created. */
const CHANGED = 100;
/** Per kind and path: workloads created with their ConfigMap, never changed. */
const UNCHANGED = 20;
const RELOADER_AUTO = { 'reloader.stakater.com/auto': 'true' };
/** Unpaced, so that hundreds of rollouts are quick; at once, so that nothing coalesces across the test. */
const FAST = ['--coalesce-window=0', '--rollout-rate=1000', '--rollout-burst=1000'];

const names = (prefix: string, count: number): string[] => Array.from({ length: count }, (_, i) => `${prefix}-${i}`);

function workloads(kind: WorkloadKind, prefix: string, count: number, annotations: Record<string, string>): object[] {
  return names(prefix, count).map((name) =>
    workload(kind, name, { envFrom: [{ configMapRef: { name } }] }, { annotations }),
  );
}

/** The unchanged ones, applied as users apply an app: each ConfigMap, then its workload, in one go. */
function together(kind: WorkloadKind, annotations: Record<string, string>): object[] {
  const apps = workloads(kind, 'unchanged', UNCHANGED, annotations);
  return configMaps('unchanged', UNCHANGED, '1').flatMap((cm, i) => [cm, apps[i] ?? {}]);
}

const configMaps = (prefix: string, count: number, value: string): object[] =>
  names(prefix, count).map((name) => configMap(name, { value }));

/** Revisions (ReplicaSets, or ControllerRevisions) per owning workload of `ns`, from one list. */
async function revisionCounts(ns: string, kind: WorkloadKind): Promise<Map<string, number>> {
  const resource = kind === 'Deployment' ? 'replicasets' : 'controllerrevisions';
  const listed = await kubectlJson<ObjectList<{ metadata: { ownerReferences?: { kind: string; name: string }[] } }>>([
    'get',
    resource,
    '-n',
    ns,
  ]);
  const counts = new Map<string, number>();
  for (const item of listed.items) {
    for (const owner of item.metadata.ownerReferences ?? [])
      if (owner.kind === kind) counts.set(owner.name, (counts.get(owner.name) ?? 0) + 1);
  }
  return counts;
}

interface Listed {
  metadata: { name: string; resourceVersion: string; generation: number; annotations?: Record<string, string> };
  spec: { template: { metadata: { annotations?: Record<string, string> } } };
  status?: { observedGeneration?: number };
}

/** The rollout confighash started for the workload, if any: its template's stamp, as its record of the rollout names it. */
function rolledTo(workload: Listed): string | undefined {
  const stamped = workload.spec.template.metadata.annotations?.['confighash.dev/checksum'];
  const recorded = workload.metadata.annotations?.['confighash.dev/rollout']?.split(' ')[0];
  return stamped !== undefined && stamped === recorded ? stamped : undefined;
}

/** The kind's workloads of `ns` once nothing is left to do: confighash has seen each as it is now and its queue is empty, twice over. */
async function settled(
  ns: string,
  kind: WorkloadKind,
  count: number,
  confighash: ConfighashProcess,
): Promise<Listed[]> {
  let items: Listed[] = [];
  for (let round = 0; round < 2; round++) {
    await waitFor(
      `confighash to have seen every ${kind} of ${ns} as it is`,
      async () => {
        items = (await kubectlJson<ObjectList<Listed>>(['get', kind.toLowerCase(), '-n', ns])).items;
        for (const item of items) {
          if ((item.status?.observedGeneration ?? 0) < item.metadata.generation) return undefined;
          if (
            (await observedVersion(confighash.metricsUrl, kind, ns, item.metadata.name)) !==
            item.metadata.resourceVersion
          )
            return undefined;
        }
        return items.length === count || undefined;
      },
      180_000,
    );
    await waitForIdle(confighash.metricsUrl);
  }
  return items;
}

/** Waits until confighash has rolled every changed workload (or time runs out: the assertions then name what it missed). */
async function waitForRollouts(confighash: ConfighashProcess, count: number): Promise<void> {
  await waitFor(
    `confighash to roll ${count} workloads`,
    async () => (await metricValue(confighash.metricsUrl, 'confighash_rollouts_total')) >= count || undefined,
    120_000,
  ).catch(() => undefined);
}

/** Each changed workload rolled exactly once by confighash, each unchanged one never; no workload has more revisions than that. */
async function assertExact(
  ns: string,
  kind: WorkloadKind,
  confighash: ConfighashProcess,
  { changed, unchanged }: { changed: readonly string[]; unchanged: readonly string[] },
): Promise<void> {
  const items = await settled(ns, kind, changed.length + unchanged.length, confighash);
  const revisions = await revisionCounts(ns, kind);
  const byName = new Map(items.map((item) => [item.metadata.name, item]));
  const wrong = [
    ...changed
      .filter((name) => !byName.has(name) || rolledTo(byName.get(name) as Listed) === undefined)
      .map((name) => `${name}: not rolled`),
    ...unchanged
      .filter((name) => byName.has(name) && rolledTo(byName.get(name) as Listed) !== undefined)
      .map((name) => `${name}: rolled, though its configuration never changed`),
    ...changed
      .filter((name) => (revisions.get(name) ?? 0) > 2)
      .map((name) => `${name}: ${revisions.get(name)} revisions`),
    ...unchanged
      .filter((name) => revisions.get(name) !== 1)
      .map((name) => `${name}: ${revisions.get(name) ?? 0} revisions`),
  ];
  assert.deepEqual(wrong, []);
  assert.equal(
    await metricValue(confighash.metricsUrl, 'confighash_rollouts_total'),
    changed.length,
    'one rollout each, none twice',
  );
}

/** The ConfigMaps exist a second before the workloads: "changed after" is then visible even to the second (the residue is in adoption.ts). */
async function nextSecond(): Promise<void> {
  const now = Math.floor(Date.now() / 1000);
  await waitFor('the next second', () => Promise.resolve(Math.floor(Date.now() / 1000) > now || undefined), 2_000);
}

describe('adoption never swallows a change', () => {
  for (const kind of KINDS) {
    it(`${kind}: Reloader-annotated outside the selector, each ConfigMap updated right after its workload is created: exactly one rollout each; none for those never changed`, async (t: TestContext) => {
      const ns = await testNamespace(t);
      const confighash = await startConfighashForTest(t, FAST);
      const changed = names('changed', CHANGED);
      const unchanged = names('unchanged', UNCHANGED);
      await apply(ns, ...together(kind, RELOADER_AUTO));
      await apply(ns, ...configMaps('changed', CHANGED, '1'));
      await apply(ns, ...workloads(kind, 'changed', CHANGED, RELOADER_AUTO));
      await apply(ns, ...configMaps('changed', CHANGED, '2'));
      await waitForRollouts(confighash, CHANGED);
      await assertExact(ns, kind, confighash, { changed, unchanged });
    });

    it(`${kind}: created while the webhook does not answer (confighash down), each ConfigMap updated before confighash starts: exactly one rollout each; none for those never changed`, async (t: TestContext) => {
      const ns = await testNamespace(t, { 'confighash.dev/enabled': 'true' });
      // Registered, then stopped: its webhook configuration stays, and the API server fails open.
      const down = await startConfighashForTest(t, FAST);
      await down.stop();
      const changed = names('changed', CHANGED);
      const unchanged = names('unchanged', UNCHANGED);
      await apply(ns, ...together(kind, {}));
      await apply(ns, ...configMaps('changed', CHANGED, '1'));
      await nextSecond();
      await apply(ns, ...workloads(kind, 'changed', CHANGED, {}));
      await apply(ns, ...configMaps('changed', CHANGED, '2'));
      const stamped = (
        await kubectl([
          'get',
          kind.toLowerCase(),
          '-n',
          ns,
          '-o',
          'jsonpath={.items[*].spec.template.metadata.annotations.confighash\\.dev/checksum}',
        ])
      ).trim();
      assert.equal(stamped, '', 'admitted unstamped: the webhook failed open');
      const confighash = await startConfighashForTest(t, FAST);
      await waitForRollouts(confighash, CHANGED);
      await assertExact(ns, kind, confighash, { changed, unchanged });
    });
  }
});
