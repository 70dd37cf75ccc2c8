// The Kubernetes access layer's entry: how confighash finds its cluster, and the
// connections and credentials its API requests go out with.
import type { OutgoingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, type RequestOptions } from 'node:https';
// Not the package's index, which loads its generated API clients (see kube/lean-kubeconfig.ts).
import { KubeConfig } from '@kubernetes/client-node/dist/config.js';

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

/** The options of one request: headers (credentials), TLS, and the connections to send it over. */
export type ApiRequestOptions = Pick<RequestOptions, 'agent' | 'auth'> & { headers?: OutgoingHttpHeaders };

/** The TLS fields client-node sets from a kubeconfig, which the connections depend on. */
const TLS_FIELDS = ['ca', 'cert', 'key', 'pfx', 'passphrase', 'servername', 'rejectUnauthorized'] as const;

/**
 * A KubeConfig whose requests share kept-alive connections over node:https.
 * client-node authenticates each request (tokens, token files, exec plugins,
 * client certificates read from disk each time) with applyToHTTPSOptions; its
 * https.Agent does not keep connections alive, and is cached for good, so it
 * would neither reuse a connection nor follow a renewed client certificate.
 * This one keeps one Agent per pool and TLS identity, and replaces it when the
 * CA, certificate or key it was built from change on disk. Requests go out as
 * HTTP/1.1: the API server prefers HTTP/2, which cost a quarter more CPU per
 * admission (over undici: 500 against 620 admissions a second per core, A/B).
 */
class PooledKubeConfig extends KubeConfig {
  /** Pool name → its Agent: `shared` for most requests, others kept apart (the leader's lease). */
  readonly #pools = new Map<string, { identity: string; agent: HttpsAgent }>();

  async requestOptions(pool: string): Promise<ApiRequestOptions> {
    const options: RequestOptions = {};
    await this.applyToHTTPSOptions(options);
    const { agent, auth, headers } = options;
    // A proxy, or plain HTTP: the agent client-node made for it.
    if (this.getCurrentCluster()?.proxyUrl || !(agent instanceof HttpsAgent))
      return { agent, auth, headers: headers as OutgoingHttpHeaders };
    return { agent: this.#agentFor(options, pool), auth, headers: headers as OutgoingHttpHeaders };
  }

  #agentFor(options: RequestOptions, pool: string): HttpsAgent {
    const tls = Object.fromEntries(TLS_FIELDS.map((field) => [field, options[field]]));
    const identity = tlsIdentity(options);
    const existing = this.#pools.get(pool);
    if (existing?.identity === identity) return existing.agent;
    // Idle connections are closed after 30 s, well before the API server's own idle
    // timeout (90 s), so that a request never goes out on a connection being closed.
    // A replaced agent is dropped, not destroyed: its requests (watches among them)
    // finish, and then its connections close that way.
    const agent = new HttpsAgent({ ...tls, keepAlive: true, keepAliveMsecs: 30_000, timeout: 30_000 });
    this.#pools.set(pool, { identity, agent });
    return agent;
  }
}

/** What the connections' TLS depends on, as one string (client-node reads the files again for every request). */
function tlsIdentity(options: RequestOptions): string {
  return TLS_FIELDS.map((field) => {
    const value = options[field];
    const parts = Array.isArray(value) ? value : [value];
    return parts
      .map((part: unknown) => (Buffer.isBuffer(part) ? part.toString('latin1') : JSON.stringify(part)))
      .join('\0');
  }).join('\n');
}

/**
 * The credentials and connections of a request to `config`'s cluster; with
 * `pool`, its connections are apart from every other request's, so that a burst
 * of requests (a reconcile's writes) never delays this one (the leader's lease renewal).
 */
export async function requestOptions(config: KubeConfig, pool = 'shared'): Promise<ApiRequestOptions> {
  if (config instanceof PooledKubeConfig) return config.requestOptions(pool);
  const options: RequestOptions = {};
  await config.applyToHTTPSOptions(options);
  return { agent: options.agent, auth: options.auth, headers: options.headers as OutgoingHttpHeaders };
}
