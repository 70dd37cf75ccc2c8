// @kubernetes/client-node's KubeConfig (kubeconfig files, in-cluster config,
// every authentication method) without the package's generated API clients.
//
// Its config.js imports the generated clients' index for two names only,
// createConfiguration and ServerConfiguration (for makeApiClient); that index
// loads a thousand modules of API classes and models, about 45 MiB of memory,
// which `confighash run` never uses: its requests are raw JSON (kube/raw.ts).
// This resolve hook, registered before run.ts is loaded, hands config.js a
// module of just those two names. Should a client-node release import more
// from there, the process fails at once, naming the missing export.
import { registerHooks } from 'node:module';

const KUBECONFIG_MODULE = '/@kubernetes/client-node/dist/config.js';
const GENERATED_INDEX = './gen/index.js';

export function loadKubeConfigWithoutGeneratedClients(): void {
  registerHooks({
    resolve(specifier, context, nextResolve) {
      if (specifier !== GENERATED_INDEX || !context.parentURL?.endsWith(KUBECONFIG_MODULE)) return nextResolve(specifier, context);
      const at = (path: string): string => new URL(path, context.parentURL).href;
      const source = [
        `export { createConfiguration } from ${JSON.stringify(at('./gen/configuration.js'))};`,
        `export { ServerConfiguration } from ${JSON.stringify(at('./gen/servers.js'))};`,
      ].join('\n');
      return { url: `data:text/javascript,${encodeURIComponent(source)}`, shortCircuit: true };
    },
  });
}
