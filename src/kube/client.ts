// The Kubernetes access layer's entry: how confighash finds its cluster, and the
// per-request options (timeouts, patch content types) its API calls share.
import type { AgentOptions } from 'node:https';
import type { Cluster, RequestContext } from '@kubernetes/client-node';
// Not the package's index, which loads its generated API clients (see kube/lean-kubeconfig.ts).
import { KubeConfig } from '@kubernetes/client-node/dist/config.js';
import { Agent } from 'undici';

/**
 * `--kubeconfig PATH` if given; otherwise the in-cluster service account when
 * running in a pod; otherwise `$KUBECONFIG` (or ~/.kube/config).
 */
export function loadKubeConfig(path?: string): KubeConfig {
  const config = new PooledKubeConfig();
  if (path) config.loadFromFile(path);
  else if (process.env['KUBERNETES_SERVICE_HOST']) config.loadFromCluster();
  else config.loadFromDefault();
  if (!config.getCurrentCluster()) {
    throw new Error('no Kubernetes cluster configured: pass --kubeconfig, set $KUBECONFIG, or run in a pod');
  }
  return config;
}

type DispatcherOptions = ReturnType<KubeConfig['createDispatcherOptions']>;
type ConnectOptions = Extract<DispatcherOptions, { type: 'agent' }>['connect'];

/**
 * A KubeConfig whose requests share kept-alive connections. client-node 2.0 gives
 * every request a new undici Agent, so every request opens a new TLS connection
 * (milliseconds of CPU on both ends: the webhook's live reads and the controller's
 * patches paid it each time). This one keeps one Agent per TLS identity, and
 * replaces it when the CA, certificate or key it was built from change on disk.
 */
class PooledKubeConfig extends KubeConfig {
  #connect: ConnectOptions | undefined;
  /** Pool name → its Agent: `shared` for most requests, others kept apart (the leader's lease). */
  readonly #pools = new Map<string, { identity: (string | Buffer)[]; agent: Agent }>();

  // client-node calls this on every request, just before it builds the Agent.
  override createDispatcherOptions(cluster: Cluster | null, agentOptions: AgentOptions): DispatcherOptions {
    const options = super.createDispatcherOptions(cluster, agentOptions);
    this.#connect = options.type === 'agent' ? options.connect : undefined;
    return options;
  }

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await this.authenticate(context, 'shared');
  }

  /** Authenticates a request and sends it over the connections of `pool`. */
  async authenticate(context: RequestContext, pool: string): Promise<void> {
    await super.applySecurityAuthentication(context);
    // Proxied and plain connections stay as client-node makes them.
    if (this.#connect) context.setDispatcher(this.#agentFor(this.#connect, pool));
  }

  #agentFor(connect: ConnectOptions, pool: string): Agent {
    const identity = tlsIdentity(connect);
    const existing = this.#pools.get(pool);
    if (existing && sameIdentity(existing.identity, identity)) return existing.agent;
    void existing?.agent.close();
    // The same undici options client-node passes to its Agent (only its optional-property
    // typing differs), over HTTP/1.1: the API server prefers HTTP/2, and Node's HTTP/2 cost
    // a quarter more CPU per admission (500 against 620 admissions a second per core, A/B).
    // Each watch then holds a connection of its own.
    const agent = new Agent({ connect: connect as NonNullable<Agent.Options['connect']>, allowH2: false });
    this.#pools.set(pool, { identity, agent });
    return agent;
  }
}

/**
 * Authenticates `context` for `config`; with `pool`, its connections are apart
 * from every other request's, so that a burst of requests (a reconcile's
 * writes) never delays this one (the leader's lease renewal).
 */
export async function authenticate(config: KubeConfig, context: RequestContext, pool?: string): Promise<void> {
  if (pool && config instanceof PooledKubeConfig) await config.authenticate(context, pool);
  else await config.applySecurityAuthentication(context);
}

/** What the connections' TLS depends on: the fields client-node sets from a kubeconfig. */
function tlsIdentity(connect: ConnectOptions): (string | Buffer)[] {
  const parts = [connect.ca, connect.cert, connect.key].flatMap((field) => [field ?? []].flat());
  return [...parts.map((part) => (typeof part === 'string' || Buffer.isBuffer(part) ? part : part.pem)), `${connect.servername ?? ''}:${String(connect.rejectUnauthorized)}`];
}

function sameIdentity(a: readonly (string | Buffer)[], b: readonly (string | Buffer)[]): boolean {
  return a.length === b.length && a.every((part, i) => {
    const other = b[i];
    return typeof part === 'string' || typeof other === 'string' ? part === other : part.equals(other ?? Buffer.alloc(0));
  });
}
