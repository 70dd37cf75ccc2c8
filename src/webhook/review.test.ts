import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BadReviewError, parseAdmissionReview } from './review.ts';

const DEPLOYMENT = { group: 'apps', version: 'v1', kind: 'Deployment' };

function review(object: unknown, kind = DEPLOYMENT): unknown {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid: 'u', kind, operation: 'CREATE', object },
  };
}

function withPodSpec(spec: unknown): unknown {
  return review({ metadata: { name: 'web' }, spec: { template: { spec } } });
}

describe('parseAdmissionReview', () => {
  const malformed: [string, unknown, RegExp][] = [
    [
      'containers as an object',
      withPodSpec({ containers: { name: 'app' } }),
      /^request\.object\.spec\.template\.spec\.containers must be an array, got an object$/,
    ],
    ['a null container', withPodSpec({ containers: [null] }), /containers\[0\] must be an object, got null/],
    [
      'env as a string',
      withPodSpec({ containers: [{ name: 'a', env: 'x' }] }),
      /containers\[0\]\.env must be an array, got a string/,
    ],
    [
      'a key that is a number',
      withPodSpec({ containers: [{ env: [{ valueFrom: { configMapKeyRef: { name: 'a', key: 1 } } }] }] }),
      /configMapKeyRef\.key must be a string, got a number/,
    ],
    [
      'projected sources as a string',
      withPodSpec({ volumes: [{ name: 'v', projected: { sources: 'x' } }] }),
      /volumes\[0\]\.projected\.sources must be an array/,
    ],
    [
      'annotations that are not strings',
      review({ metadata: { annotations: { a: 1 } } }),
      /request\.object\.metadata\.annotations\["a"\] must be a string, got a number/,
    ],
    [
      'an oldObject of the wrong shape',
      {
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        request: { uid: 'u', kind: DEPLOYMENT, operation: 'UPDATE', object: {}, oldObject: { spec: [] } },
      },
      /request\.oldObject\.spec must be an object, got an array/,
    ],
  ];
  for (const [what, body, message] of malformed) {
    it(`refuses ${what}, naming the field`, () => {
      assert.throws(
        () => parseAdmissionReview(body),
        (error: unknown) => error instanceof BadReviewError && message.test(error.message),
      );
    });
  }

  it('refuses objects nested deeper than any Kubernetes object, without overflowing the stack', () => {
    let deep: unknown = {};
    for (let i = 0; i < 200_000; i++) deep = { a: deep };
    assert.throws(() => parseAdmissionReview(review({ metadata: deep })), /nested deeper than 100 levels/);
  });

  it('accepts a well-formed workload, and does not check the shape of kinds it does not read', () => {
    const request = parseAdmissionReview(
      withPodSpec({
        containers: [{ name: 'app', envFrom: [{ configMapRef: { name: 'a', optional: null } }] }],
        volumes: null,
      }),
    );
    assert.equal(request.uid, 'u');
    assert.doesNotThrow(() =>
      parseAdmissionReview(
        review({ spec: { containers: 'anything' } }, { group: '', version: 'v1', kind: 'ConfigMap' }),
      ),
    );
  });
});
