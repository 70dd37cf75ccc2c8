import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { ClientAuthority } from './client-ca.ts';

const authority = (names: string[]): ClientAuthority =>
  new ClientAuthority({ file: '/dev/null', names, pollIntervalMs: 1000, logger: pino({ level: 'silent' }) });

describe('ClientAuthority', () => {
  it('accepts any name without --client-names, and otherwise only a listed common or DNS name', () => {
    assert.equal(authority([]).refusal({ subject: { CN: 'anyone' } }), undefined);
    const named = authority(['kube-apiserver']);
    assert.equal(named.refusal({ subject: { CN: 'kube-apiserver' } }), undefined);
    assert.equal(named.refusal({ subject: { CN: 'x' }, subjectaltname: 'DNS:other, DNS:kube-apiserver' }), undefined);
    assert.match(
      named.refusal({ subject: { CN: 'kubelet' } }) ?? '',
      /client certificate for kubelet is not one of --client-names/,
    );
  });
});
