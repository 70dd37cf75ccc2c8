// `npm run image -- [--tag REF] [--out FILE]`: confighash's image without Docker,
// as an OCI archive to push with your usual tool, e.g.
//   skopeo copy oci-archive:confighash.oci.tar docker://registry.example.com/confighash:0.1.0
// It holds the Node.js that runs this command (>= 22.19; scripts/setup.sh installs 24)
// with the shared libraries it links, for this machine's architecture. The Dockerfile
// builds the same image where Docker is available.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildImage } from '../test/cluster/confighash-image.ts';
import { ensureImages } from '../test/cluster/node.ts';

const { version } = JSON.parse(await readFile(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as {
  version: string;
};
const { values } = parseArgs({
  options: {
    tag: { type: 'string', default: `ghcr.io/confighash/confighash:${version}` },
    out: { type: 'string', default: 'confighash.oci.tar' },
  },
});
const say = (line: string): void => {
  process.stderr.write(`${line}\n`);
};
const out = resolve(values.out);
const work = await mkdtemp(join(tmpdir(), 'confighash-image-'));
try {
  const { imagepack } = await ensureImages(say);
  say(`Building ${values.tag} into ${out}`);
  await buildImage(imagepack, { tag: values.tag, out, work });
  say(`Built. Push it with, for example:\n  skopeo copy oci-archive:${values.out} docker://${values.tag}`);
} finally {
  await rm(work, { recursive: true, force: true });
}
