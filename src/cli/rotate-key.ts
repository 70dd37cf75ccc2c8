// `confighash rotate-key`: adds a new HMAC key that signs Secret digests from now
// on. Nothing rolls: every stamp names its key and is verified with it until the
// workload rolls for another reason. Every replica picks the new key up from its
// watch of the Secret.
import { parseArgs } from 'node:util';
import { loadKubeConfig } from '../kube/client.ts';
import { rotateKey } from '../keys/hmac-key.ts';
import { apiSecretStore } from '../kube/secrets.ts';

export const ROTATE_KEY_USAGE = `usage: confighash rotate-key [--confighash-namespace NS] [--kubeconfig PATH]

Adds a new key to the Secret confighash-hmac-key and makes it sign new Secret
digests. Rolls nothing; old stamps stay verifiable with the key that made them.
`;

export async function rotateKeyCommand(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      kubeconfig: { type: 'string' },
      'confighash-namespace': { type: 'string', default: 'confighash-system' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(ROTATE_KEY_USAGE);
    return 0;
  }
  const id = await rotateKey(apiSecretStore(loadKubeConfig(values.kubeconfig)), values['confighash-namespace']);
  process.stdout.write(`new Secret digests are signed with key ${id}; nothing rolls now\n`);
  return 0;
}
