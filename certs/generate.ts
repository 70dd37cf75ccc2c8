// Generates a CA and a serving certificate for confighash's webhook Service, for
// operators who want neither self-managed TLS nor cert-manager:
//
//   node certs/generate.ts [--out DIR] [--namespace NS] [--service NAME] [--days N]
//
// writes DIR/ca.crt, DIR/tls.crt and DIR/tls.key (PEM). See certs/README.md.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createCertificateAuthority, DAY_MS, issueCertificate } from '../src/tls/pki.ts';

export interface GeneratedCertificates {
  ca: string;
  certificate: string;
  privateKey: string;
}

/** The CA and the serving certificate for `service`.`namespace`.svc. */
export async function generate(namespace: string, service: string, days: number): Promise<GeneratedCertificates> {
  const ca = await createCertificateAuthority(`${service}-ca`, days * DAY_MS);
  const dnsNames = [
    `${service}.${namespace}.svc`,
    `${service}.${namespace}.svc.cluster.local`,
    `${service}.${namespace}`,
  ];
  const serving = await issueCertificate(ca, {
    commonName: dnsNames[0] ?? service,
    dnsNames,
    usage: 'server',
    validityMs: days * DAY_MS,
  });
  return { ca: ca.certificate, certificate: serving.certificate, privateKey: serving.privateKey };
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      out: { type: 'string', default: 'confighash-certs' },
      namespace: { type: 'string', default: 'confighash-system' },
      service: { type: 'string', default: 'confighash' },
      days: { type: 'string', default: '365' },
    },
  });
  const generated = await generate(values.namespace, values.service, Number(values.days));
  await mkdir(values.out, { recursive: true, mode: 0o700 });
  await writeFile(join(values.out, 'ca.crt'), generated.ca);
  await writeFile(join(values.out, 'tls.crt'), generated.certificate);
  await writeFile(join(values.out, 'tls.key'), generated.privateKey, { mode: 0o600 });
  process.stdout.write(
    `wrote ${values.out}/ca.crt, tls.crt and tls.key for ${values.service}.${values.namespace}.svc\n`,
  );
}
