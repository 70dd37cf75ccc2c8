// `npm run demo`: confighash's main job, end to end, on the local control plane
// with a real node. Starts them and confighash (--webhook-url), opts a namespace
// in, applies examples/app.yaml, shows the annotations, the status table and what
// the running app serves, edits the ConfigMap, and shows the new ReplicaSet, the
// Event that explains it, and the app serving the new value.
// Exits non-zero if any step does not behave as expected.
import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { binaryDir } from '../test/cluster/binaries.ts';
import { launchControlPlane, stopControlPlane } from '../test/cluster/launcher.ts';
import { type ConfighashProcess, startConfighash } from '../test/support/confighash.ts';
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
  if (!/^configmap\/app-config=[0-9a-f]{12},secret\/app-db=[0-9a-f]{12}$/.test(annotations['confighash.dev/sources'] ?? '')) {
    throw new Error('the Deployment has no confighash.dev/sources annotation');
  }
  await waitFor('the first ReplicaSet', async () => (await replicaSets()) === 1 || undefined);
  await shell(['get', 'replicasets', '-n', NS]);

  step('The app runs on the node; what it serves (kubectl port-forward, GET /config)');
  await waitForRolledOut(NS, 'Deployment', 'app', 2);
  await showServed({ env: 'hello', file: 'log_level=info' });

  step('confighash status');
  show(`$ confighash status -n ${NS}`);
  show(await confighash(['status', '-n', NS]));

  step('Edit a consumed key of the ConfigMap (the file the app reads)');
  await shell(['patch', 'configmap', 'app-config', '-n', NS, '--type=merge', '-p', '{"data":{"app.conf":"log_level=debug"}}']);

  step('confighash rolled the Deployment: a new ReplicaSet, and an Event that says why');
  await waitFor('a second ReplicaSet', async () => (await replicaSets()) === 2 || undefined);
  await shell(['get', 'replicasets', '-n', NS]);
  const events = await shell(['get', 'events', '-n', NS, '--field-selector', 'reason=ConfigChanged']);
  if (!events.includes('configmap/app-config')) throw new Error('no ConfigChanged event names configmap/app-config');
  await shell(['rollout', 'history', 'deployment/app', '-n', NS]);

  step('Each revision records the configuration it ran');
  const revision = await shell(['rollout', 'history', 'deployment/app', '-n', NS, '--revision=2']);
  if (!/confighash\.dev\/sources: configmap\/app-config=/.test(revision)) throw new Error('revision 2 does not record its sources');

  step('The rollout completed; the running app serves the new value');
  await waitForRolledOut(NS, 'Deployment', 'app', 2);
  await shell(['get', 'pods', '-n', NS]);
  await showServed({ env: 'hello', file: 'log_level=debug' });
}

/** What each running pod serves, and a failure unless it is `expected`. */
async function showServed(expected: { env: string; file: string }): Promise<void> {
  for (const pod of await pods(NS, 'app')) {
    const { env, file } = await served(NS, pod.metadata.name);
    show(`${pod.metadata.name}: GET /config → CONFIG_ENV=${JSON.stringify(env)}, /etc/app/config=${JSON.stringify(file)}`);
    if (env !== expected.env || file !== expected.file) throw new Error(`${pod.metadata.name} serves ${JSON.stringify({ env, file })}, not ${JSON.stringify(expected)}`);
  }
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

step('Start a local control plane (etcd, kube-apiserver, kube-controller-manager) and a node (containerd, kubelet)');
const handle = await launchControlPlane(await mkdtemp(join(tmpdir(), 'confighash-demo-')), false, show, { node: true });
process.env['KUBECONFIG'] = handle.kubeconfig;
process.env['PATH'] = `${binaryDir()}${delimiter}${process.env['PATH'] ?? ''}`;
show(`ready at ${handle.server}`);
let confighashProcess: ConfighashProcess | undefined;
try {
  step('Start confighash next to it: confighash run --webhook-url https://127.0.0.1:PORT/mutate');
  confighashProcess = await startConfighash(['--log-level=warn']);
  show(`serving the webhook at ${confighashProcess.webhookUrl}`);
  await demo();
  process.stdout.write(`\n${styled(process.stdout, 32, 'Demo complete: one edit, one rollout, and the reason recorded.')}\n`);
} catch (error) {
  process.stderr.write(`\n${styled(process.stderr, 31, `Demo failed: ${error instanceof Error ? error.message : String(error)}`)}\n`);
  process.exitCode = 1;
} finally {
  await confighashProcess?.stop();
  await stopControlPlane(handle);
}
