// `confighash run`'s flags, each with an environment variable equivalent
// (CONFIGHASH_<FLAG>, e.g. CONFIGHASH_WEBHOOK_PORT); a flag wins over its variable.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { LOG_LEVELS, type LogLevel } from '../telemetry/log.ts';
import { parseDuration } from '../time/duration.ts';
import { type LabelSelector, parseLabelSelector } from '../scope/label-selector.ts';

export interface RunOptions {
  kubeconfig: string | undefined;
  namespace: string;
  bindAddress: string;
  webhookPort: number;
  metricsPort: number;
  certDir: string | undefined;
  webhookUrl: string | undefined;
  serviceName: string;
  webhookTimeoutSeconds: number;
  sourceReadTimeoutMs: number;
  sourceReadConcurrency: number;
  tlsCaValidityMs: number;
  tlsCertValidityMs: number;
  tlsCheckIntervalMs: number;
  leaderElect: boolean;
  coalesceWindowMs: number;
  rolloutRate: number;
  rolloutBurst: number;
  workers: number;
  relistIntervalMs: number;
  /** A namespaced install: only these namespaces (empty: every namespace namespaceSelector selects). */
  watchNamespaces: string[];
  /** The namespaces acted in, by their labels (without watchNamespaces). */
  namespaceSelector: LabelSelector;
  /** Never acted in, whatever their labels. */
  ignoreNamespaces: string[];
  /** Only the ConfigMaps and Secrets with these labels count (empty: all). */
  resourceLabelSelector: LabelSelector;
  /** Honour stakater Reloader's annotations (docs/reloader.md). */
  reloaderAnnotations: boolean;
  /** Where Reloader's workloads are tracked (empty: any namespace). */
  reloaderNamespaceSelector: LabelSelector;
  clientCaFile: string | undefined;
  clientNames: string[];
  agentImage: string | undefined;
  /** --reload-in-place: inject the agent and read its status (which needs the pod permissions of docs/security.md). */
  reloadInPlace: boolean;
  reloadTimeoutMs: number;
  waitForRollout: boolean;
  progressDeadlineMs: number;
  approvalUrl: string | undefined;
  approvalTimeoutMs: number;
  approvalFailurePolicy: 'allow' | 'defer';
  logLevel: LogLevel;
}

interface Flag {
  help: string;
  default?: string;
  boolean?: true;
}

const SERVICE_ACCOUNT_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

export const RUN_FLAGS = {
  kubeconfig: { help: 'kubeconfig file (default: in-cluster, then $KUBECONFIG)' },
  namespace: { help: "confighash's own namespace (default: the pod's, else confighash-system)" },
  'bind-address': { help: 'address both servers listen on', default: '0.0.0.0' },
  'webhook-port': { help: 'HTTPS port of the admission webhook', default: '9443' },
  'metrics-port': { help: 'HTTP port of /metrics, /healthz and /readyz', default: '8080' },
  'cert-dir': {
    help: 'serve tls.crt and tls.key from DIR, reloaded on change (e.g. cert-manager); default: self-managed TLS',
  },
  'webhook-url': {
    help: 'register the webhook by URL (running outside the cluster), e.g. https://127.0.0.1:9443/mutate',
  },
  'service-name': {
    help: 'Service fronting the webhook in --namespace, when registered by Service',
    default: 'confighash',
  },
  'webhook-timeout': { help: "the apiserver's timeout for calling the webhook (1s-30s)", default: '5s' },
  'source-read-timeout': { help: 'timeout of each live read of a ConfigMap or Secret at admission', default: '2s' },
  'source-read-concurrency': { help: 'live reads in flight at once for one admission', default: '8' },
  'tls-ca-validity': { help: 'validity of the self-managed CA', default: '43800h' },
  'tls-cert-validity': { help: 'validity of the self-managed serving certificate', default: '8760h' },
  'tls-check-interval': { help: 'how often certificates are checked for renewal', default: '1m' },
  'leader-elect': { help: 'elect a leader on a Lease in --namespace; only the leader reconciles', boolean: true },
  'coalesce-window': {
    help: 'changes to one workload within this window roll it once (0 to roll at once)',
    default: '2s',
  },
  'rollout-rate': { help: 'rollouts triggered per second, cluster-wide', default: '10' },
  'rollout-burst': { help: 'rollouts that may be triggered at once before --rollout-rate applies', default: '20' },
  'wait-for-rollout': {
    help: "a config rollout waits until the previous rollout of the workload is complete (a workload's confighash.dev/wait-for-rollout says otherwise)",
    default: 'true',
  },
  'rollout-progress-deadline': {
    help: 'a StatefulSet or DaemonSet rollout not complete within this counts as failed (Deployments have progressDeadlineSeconds)',
    default: '10m',
  },
  'approval-url': {
    help: 'before each config rollout, POST its description here and roll only on an allow (docs/rollout-policies.md)',
  },
  'approval-timeout': { help: 'how long the approval hook may take to answer', default: '10s' },
  'approval-failure-policy': {
    help: 'when the approval hook fails or times out: allow (roll) or defer (hold, and ask again)',
    default: 'defer',
  },
  workers: { help: 'workloads reconciled concurrently', default: '4' },
  'relist-interval': {
    help: 'list every watched resource again this often (0: only when a watch cannot resume, as client-go does)',
    default: '0',
  },
  'watch-namespace': {
    help: 'a namespaced install: act in these namespaces only (comma-separated), with Role-only access to them; default: every namespace --namespace-selector selects',
  },
  'namespace-selector': {
    help: 'act in the namespaces with these labels (a label selector, e.g. "team in (a,b),!legacy")',
    default: 'confighash.dev/enabled=true',
  },
  'resource-label-selector': {
    help: 'only ConfigMaps and Secrets with these labels count (a label selector); another source counts as holding no keys, so its changes roll nothing',
  },
  'reloader-annotations': {
    help: "honour stakater Reloader's annotations (reloader.stakater.com/auto, …) with confighash's semantics; their workloads are tracked in any namespace (outside the selected ones, adopted by the controller rather than stamped at admission)",
    default: 'true',
  },
  'reloader-namespace-selector': {
    help: "with --reloader-annotations, track Reloader's workloads only in the namespaces with these labels (a label selector: Reloader's own --namespace-selector); default: any namespace",
  },
  'ignore-namespaces': {
    help: "never act in these namespaces (comma-separated), whatever their labels; confighash's own and kube-system always",
  },
  'client-ca-file': {
    help: "serve only clients with a certificate signed by this CA (the API server's webhook client certificate)",
  },
  'agent-image': { help: "the reload agent's image (confighash's own)" },
  'reload-in-place': {
    help: "reload workloads that ask for confighash.dev/reload in place (needs --agent-image, and reading their pods' logs: the reload-in-place component); otherwise they are rolled",
    default: 'false',
  },
  'reload-timeout': {
    help: 'how long a reload in place may take (the kubelet can take a minute to update a volume) before it counts as failed',
    default: '5m',
  },
  'client-names': {
    help: 'with --client-ca-file: accept only client certificates with one of these common or DNS names (comma-separated)',
  },
  'log-level': { help: `one of ${LOG_LEVELS.join(', ')}`, default: 'info' },
} satisfies Record<string, Flag>;

type FlagName = keyof typeof RUN_FLAGS;

export class UsageError extends Error {
  override name = 'UsageError';
}

export function envName(flag: string): string {
  return `CONFIGHASH_${flag.toUpperCase().replaceAll('-', '_')}`;
}

export function runUsage(): string {
  const lines = Object.entries(RUN_FLAGS).map(([name, flag]: [string, Flag]) => {
    const fallback = flag.default === undefined ? '' : ` (default ${flag.default})`;
    return `  --${name.padEnd(24)} ${flag.help}${fallback}\n  ${' '.repeat(27)}env ${envName(name)}`;
  });
  return `usage: confighash run [flags]\n\nRuns the admission webhook and the controller.\n\n${lines.join('\n')}\n`;
}

export function parseRunOptions(argv: readonly string[], env: NodeJS.ProcessEnv): RunOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: Object.fromEntries(
      Object.entries(RUN_FLAGS).map(([name, flag]: [string, Flag]) => [
        name,
        { type: flag.boolean ? ('boolean' as const) : ('string' as const) },
      ]),
    ),
    strict: true,
    allowPositionals: false,
  });
  const get = (name: FlagName): string | undefined => {
    const flag: Flag = RUN_FLAGS[name];
    const value = values[name];
    return (typeof value === 'boolean' ? String(value) : value) ?? env[envName(name)] ?? flag.default;
  };
  const logLevel = get('log-level') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  if (get('client-names') && !get('client-ca-file')) throw new UsageError('--client-names needs --client-ca-file');
  const webhookTimeoutMs = duration('webhook-timeout', get);
  if (webhookTimeoutMs < 1000 || webhookTimeoutMs > 30_000) throw new UsageError('--webhook-timeout must be 1s to 30s');
  return {
    kubeconfig: get('kubeconfig'),
    namespace: get('namespace') ?? podNamespace() ?? 'confighash-system',
    bindAddress: get('bind-address') ?? '0.0.0.0',
    webhookPort: integer('webhook-port', get, 0, 65535),
    metricsPort: integer('metrics-port', get, 0, 65535),
    certDir: get('cert-dir'),
    webhookUrl: url(get('webhook-url')),
    serviceName: get('service-name') ?? 'confighash',
    webhookTimeoutSeconds: Math.round(webhookTimeoutMs / 1000),
    sourceReadTimeoutMs: positiveDuration('source-read-timeout', get),
    sourceReadConcurrency: integer('source-read-concurrency', get, 1, 256),
    tlsCaValidityMs: positiveDuration('tls-ca-validity', get),
    tlsCertValidityMs: positiveDuration('tls-cert-validity', get),
    tlsCheckIntervalMs: positiveDuration('tls-check-interval', get),
    leaderElect: get('leader-elect') === 'true',
    coalesceWindowMs: duration('coalesce-window', get),
    rolloutRate: positive('rollout-rate', get),
    rolloutBurst: integer('rollout-burst', get, 1, 10_000),
    workers: integer('workers', get, 1, 64),
    relistIntervalMs: duration('relist-interval', get),
    watchNamespaces: namespaceList('watch-namespace', get),
    namespaceSelector: labelSelector('namespace-selector', get),
    ignoreNamespaces: namespaceList('ignore-namespaces', get),
    resourceLabelSelector: labelSelector('resource-label-selector', get),
    reloaderAnnotations: boolean('reloader-annotations', get),
    reloaderNamespaceSelector: labelSelector('reloader-namespace-selector', get),
    clientCaFile: get('client-ca-file'),
    clientNames: list(get('client-names')),
    agentImage: get('agent-image'),
    reloadInPlace: boolean('reload-in-place', get),
    reloadTimeoutMs: positiveDuration('reload-timeout', get),
    waitForRollout: boolean('wait-for-rollout', get),
    progressDeadlineMs: positiveDuration('rollout-progress-deadline', get),
    approvalUrl: approvalUrl(get('approval-url')),
    approvalTimeoutMs: positiveDuration('approval-timeout', get),
    approvalFailurePolicy: oneOf('approval-failure-policy', get, ['allow', 'defer'] as const),
    logLevel,
  };
}

function integer(name: FlagName, get: (name: FlagName) => string | undefined, min: number, max: number): number {
  const text = get(name) ?? '';
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max) {
    throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, got "${text}"`);
  }
  return value;
}

function positive(name: FlagName, get: (name: FlagName) => string | undefined): number {
  const text = get(name) ?? '';
  const value = Number(text);
  if (!(value > 0) || !Number.isFinite(value))
    throw new UsageError(`--${name} must be a positive number, got "${text}"`);
  return value;
}

function duration(name: FlagName, get: (name: FlagName) => string | undefined): number {
  try {
    return parseDuration(get(name) ?? '');
  } catch (error) {
    throw new UsageError(`--${name}: ${(error as Error).message}`, { cause: error });
  }
}

/** A duration that must not be 0: an interval of 0 would spin, a timeout of 0 fail everything. */
function positiveDuration(name: FlagName, get: (name: FlagName) => string | undefined): number {
  const value = duration(name, get);
  if (value <= 0) throw new UsageError(`--${name} must be longer than 0, got "${get(name) ?? ''}"`);
  return value;
}

function boolean(name: FlagName, get: (name: FlagName) => string | undefined): boolean {
  return oneOf(name, get, ['true', 'false'] as const) === 'true';
}

function oneOf<T extends string>(name: FlagName, get: (name: FlagName) => string | undefined, values: readonly T[]): T {
  const text = get(name) ?? '';
  if (!(values as readonly string[]).includes(text))
    throw new UsageError(`--${name} must be one of ${values.join(', ')}, got "${text}"`);
  return text as T;
}

function approvalUrl(text: string | undefined): string | undefined {
  if (text !== undefined && (!URL.canParse(text) || !['http:', 'https:'].includes(new URL(text).protocol))) {
    throw new UsageError(`--approval-url must be an http:// or https:// URL, got "${text}"`);
  }
  return text;
}

function list(text: string | undefined): string[] {
  return (text ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

function namespaceList(name: FlagName, get: (name: FlagName) => string | undefined): string[] {
  const names = list(get(name));
  const bad = names.find((ns) => !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(ns) || ns.length > 63);
  if (bad !== undefined) throw new UsageError(`--${name}: "${bad}" is not a namespace name`);
  return names;
}

function labelSelector(name: FlagName, get: (name: FlagName) => string | undefined): LabelSelector {
  try {
    return parseLabelSelector(get(name) ?? '');
  } catch (error) {
    throw new UsageError(`--${name}: ${(error as Error).message}`, { cause: error });
  }
}

function url(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  if (!URL.canParse(text) || new URL(text).protocol !== 'https:') {
    throw new UsageError(`--webhook-url must be an https:// URL, got "${text}"`);
  }
  return text;
}

function podNamespace(): string | undefined {
  try {
    return readFileSync(SERVICE_ACCOUNT_NAMESPACE, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
