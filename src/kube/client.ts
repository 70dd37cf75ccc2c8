// The Kubernetes access layer's entry: how confighash finds its cluster, and the
// per-request options (timeouts, patch content types) its API calls share.
import {
  type ConfigurationOptions,
  KubeConfig,
  Observable,
  type ObservableMiddleware,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';

export { PatchStrategy };

/**
 * `--kubeconfig PATH` if given; otherwise the in-cluster service account when
 * running in a pod; otherwise `$KUBECONFIG` (or ~/.kube/config).
 */
export function loadKubeConfig(path?: string): KubeConfig {
  const config = new KubeConfig();
  if (path) config.loadFromFile(path);
  else if (process.env['KUBERNETES_SERVICE_HOST']) config.loadFromCluster();
  else config.loadFromDefault();
  if (!config.getCurrentCluster()) {
    throw new Error('no Kubernetes cluster configured: pass --kubeconfig, set $KUBECONFIG, or run in a pod');
  }
  return config;
}

/** Options that abort a request after `timeoutMs`. */
export function withTimeout(
  timeoutMs: number,
  options?: ConfigurationOptions,
): ConfigurationOptions {
  const timeout: ObservableMiddleware = {
    pre: (request) => {
      request.setSignal(AbortSignal.timeout(timeoutMs));
      return new Observable(Promise.resolve(request));
    },
    post: (response) => new Observable(Promise.resolve(response)),
  };
  return {
    ...options,
    middleware: [...(options?.middleware ?? []), timeout],
    middlewareMergeStrategy: 'append',
  };
}

/** Options that send a PATCH with the given content type. */
export function patchAs(
  strategy: PatchStrategy,
  options?: ConfigurationOptions,
): ConfigurationOptions {
  return setHeaderOptions('Content-Type', strategy, options);
}
