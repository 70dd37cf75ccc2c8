// `npm run demo`: confighash's main job, end to end, on the local control plane
// with a real node. Starts them, installs confighash in the cluster from its image
// (kubectl apply -k manifests/overlays/local, with the reload-in-place component), opts a namespace in, applies examples/app.yaml (the same app twice: `app` rolls, `app-reload`
// reloads in place), shows the annotations, the status table and what the running
// apps serve, edits the file both read, and shows the two strategies side by side:
// a new ReplicaSet and the Event that explains it for one; the same pods, reloaded,
// for the other; and both serving the new value.
// Exits non-zero if any step does not behave as expected.
import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join, relative } from 'node:path';
import { binaryDir } from '../test/cluster/binaries.ts';
import { install, LOCAL_OVERLAY } from '../test/cluster/in-cluster.ts';
import { launchControlPlane, stopControlPlane } from '../test/cluster/launcher.ts';
import { kubectl, waitFor } from '../test/support/kube.ts';
import { pods, served, waitForRolledOut } from '../test/support/served.ts';
import { useColour } from '../src/cli/table.ts';

const ROOT = join(import.meta.dirname, '..');
const NS = 'demo';
let stepNumber = 0;

/** `text` in an SGR style (1 bold, 31 red, 32 green) on a terminal; plain in CI logs and files. */
function styled(stream: NodeJS.WriteStream, code: number, text: string): string {
  return useColour(stream) ? `\u001b[${code}m${text}\u001b[0m` : text;
}

function step(title: string): void {
  stepNumber += 1;
  process.stdout.write(`\n${styled(process.stdout, 1, `${stepNumber}. ${title}`)}\n`);
}

function show(text: string): void {
  process.stdout.write(text.replace(/^/gm, '   ').trimEnd() + '\n');
}

async function shell(args: string[], input?: string): Promise<string> {
  show(`$ kubectl ${args.join(' ')}`);
  const out = await kubectl(args, input);
  show(out);
  return out;
}

async function demo(): Promise<void> {
  step('Apply the app in a namespace labelled confighash.dev/enabled=true');
  await shell(['create', 'namespace', NS]);
  await shell(['label', 'namespace', NS, 'confighash.dev/enabled=true']);
  await shell(['apply', '-n', NS, '-f', join(ROOT, 'examples', 'app.yaml')]);

  step('The webhook stamped the checksum of what the pod template consumes');
  const annotations = JSON.parse(
    await shell(['get', 'deployment', 'app', '-n', NS, '-o', 'jsonpath={.spec.template.metadata.annotations}']),
  ) as Record<string, string>;
  if (
    !/^configmap\/app-config=[0-9a-f]{12},secret\/app-db=[0-9a-f]{12}$/.test(
      annotations['confighash.dev/sources'] ?? '',
    )
  ) {
    throw new Error('the Deployment has no confighash.dev/sources annotation');
  }
  await waitFor('a ReplicaSet of each', async () => (await replicaSets()) === 2 || undefined);
  await shell(['get', 'replicasets', '-n', NS]);

  step('Both apps run on the node; what they serve (kubectl port-forward, GET /config)');
  await waitForRolledOut(NS, 'Deployment', 'app', 2);
  await waitForRolledOut(NS, 'Deployment', 'app-reload', 2);
  await showServed('app', { env: 'hello', file: 'log_level=info' });
  const reloading = await showServed('app-reload', { env: 'hello', file: 'log_level=info' });

  step('app-reload got the reload agent, a native sidecar, from the webhook');
  await shell([
    'get',
    'deployment',
    'app-reload',
    '-n',
    NS,
    '-o',
    'jsonpath={.spec.template.spec.initContainers[*].name}{"\\n"}',
  ]);

  step('confighash status');
  show(`$ confighash status -n ${NS}`);
  show(await confighash(['status', '-n', NS]));

  step('Edit a consumed key of the ConfigMap (the file the app reads)');
  await shell([
    'patch',
    'configmap',
    'app-config',
    '-n',
    NS,
    '--type=merge',
    '-p',
    '{"data":{"app.conf":"log_level=debug"}}',
  ]);

  step('confighash rolled app: a new ReplicaSet, and an Event that says why; app-reload kept its ReplicaSet');
  await waitFor('a second ReplicaSet of app', async () => (await replicaSets()) === 3 || undefined);
  await shell(['get', 'replicasets', '-n', NS]);
  const events = await shell(['get', 'events', '-n', NS, '--field-selector', 'reason=ConfigChanged']);
  if (!events.includes('configmap/app-config')) throw new Error('no ConfigChanged event names configmap/app-config');
  await shell(['rollout', 'history', 'deployment/app', '-n', NS]);

  step('Each revision records the configuration it ran');
  const revision = await shell(['rollout', 'history', 'deployment/app', '-n', NS, '--revision=2']);
  if (!/confighash\.dev\/sources: configmap\/app-config=/.test(revision))
    throw new Error('revision 2 does not record its sources');

  step('app rolled out and serves the new value from new pods');
  await waitForRolledOut(NS, 'Deployment', 'app', 2);
  await shell(['get', 'pods', '-n', NS, '-l', 'app=app']);
  await showServed('app', { env: 'hello', file: 'log_level=debug' });

  step("app-reload serves it from the same pods, reloaded in place (kubelet, then the agent's SIGHUP)");
  await waitFor(
    'app-reload to reload',
    async () => {
      const names = await Promise.all(
        (await pods(NS, 'app-reload')).map(async (p) => (await served(NS, p.metadata.name)).file),
      );
      return names.every((file) => file === 'log_level=debug') || undefined;
    },
    90_000,
  );
  const reloaded = await showServed('app-reload', { env: 'hello', file: 'log_level=debug' });
  if (reloaded.join() !== reloading.join()) throw new Error('app-reload was restarted, not reloaded');
  await shell(['get', 'pods', '-n', NS, '-l', 'app=app-reload']);
  await waitFor(
    'the ConfigReloaded Event',
    async () =>
      (await kubectl(['get', 'events', '-n', NS, '--field-selector', 'reason=ConfigReloaded', '-o', 'name'])).trim() ||
      undefined,
    60_000,
  );
  await shell(['get', 'events', '-n', NS, '--field-selector', 'reason=ConfigReloaded']);
  show(`$ confighash explain deployment/app-reload -n ${NS}`);
  show(await confighash(['explain', 'deployment/app-reload', '-n', NS]));
}

/** What each running pod of `app` serves, and a failure unless it is `expected`; returns the pods' UIDs. */
async function showServed(app: string, expected: { env: string; file: string }): Promise<string[]> {
  const running = await pods(NS, app);
  for (const pod of running) {
    const { env, file, reloads } = await served(NS, pod.metadata.name);
    show(
      `${pod.metadata.name}: GET /config → CONFIG_ENV=${JSON.stringify(env)}, /etc/app/config=${JSON.stringify(file)}${reloads > 0 ? ` (reloaded ${reloads}×)` : ''}`,
    );
    if (env !== expected.env || file !== expected.file)
      throw new Error(`${pod.metadata.name} serves ${JSON.stringify({ env, file })}, not ${JSON.stringify(expected)}`);
  }
  return running.map((p) => p.metadata.uid).sort();
}

async function replicaSets(): Promise<number> {
  const list = JSON.parse(await kubectl(['get', 'replicasets', '-n', NS, '-o', 'json'])) as { items: unknown[] };
  return list.items.length;
}

function confighash(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(join(ROOT, 'bin', 'confighash'), args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('close', (code) => {
      if (code === 0) resolve(out);
      else reject(new Error(`confighash ${args.join(' ')} exited ${code}`));
    });
  });
}

step(
  "Start a local control plane (etcd, kube-apiserver, kube-controller-manager) and a node (containerd, kubelet, kube-proxy), with confighash's image imported",
);
const handle = await launchControlPlane(await mkdtemp(join(tmpdir(), 'confighash-demo-')), false, show, { node: true });
process.env['KUBECONFIG'] = handle.kubeconfig;
process.env['PATH'] = `${binaryDir()}${delimiter}${process.env['PATH'] ?? ''}`;
show(`ready at ${handle.server}`);
try {
  step('Install confighash in the cluster as users do: two replicas, the webhook behind its Service');
  show(
    `$ kubectl apply -k ${relative(process.cwd(), LOCAL_OVERLAY)}   # with components/reload-in-place: app-reload reloads in place`,
  );
  await install('kustomize', { reloadInPlace: true });
  await shell(['get', 'pods', '-n', 'confighash-system', '-o', 'wide']);
  await demo();
  process.stdout.write(
    `\n${styled(process.stdout, 32, 'Demo complete: one edit; one rollout where it must, a reload in place where it can, and the reason recorded.')}\n`,
  );
} catch (error) {
  process.stderr.write(
    `\n${styled(process.stderr, 31, `Demo failed: ${error instanceof Error ? error.message : String(error)}`)}\n`,
  );
  process.exitCode = 1;
} finally {
  await stopControlPlane(handle);
}
