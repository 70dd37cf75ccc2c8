// The installation's HMAC keys, and which does what. The value key (the first key
// an installation ever had) digests each Secret value for the controller's
// stores; those per-key digests never leave the process, so the value key never
// needs to change. The signing key HMACs what is exposed in pod templates: a
// Secret's source digest. Rotating adds a signing key; every stamp names the key
// that made it, so an old stamp is still verified with its own key, and nothing
// rolls because of a rotation.
import { createHash, createSecretKey, type KeyObject } from 'node:crypto';

export const MIN_KEY_BYTES = 32;

/** A key's public name: 8 hex characters of the SHA-256 of its bytes (they are 32 random bytes). */
export function keyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}

export interface KeyMaterial {
  /** The first key of the installation: digests values, and signed every v1 stamp. */
  valueKey: Buffer;
  /** Every key whose stamps can still be verified, the value key among them or not. */
  keys: readonly Buffer[];
  /** The id of the key that signs new stamps. */
  signingId: string;
}

export class HmacKeyring {
  #valueId = '';
  #valueKey: KeyObject | undefined;
  #keys = new Map<string, KeyObject>();
  #signingId = '';

  constructor(material: KeyMaterial) {
    this.update(material);
  }

  /** Takes new material; the value key can never change under a running process. */
  update(material: KeyMaterial): void {
    const all = [material.valueKey, ...material.keys];
    const short = all.find((key) => key.length < MIN_KEY_BYTES);
    if (short) throw new Error(`an HMAC key must be at least ${MIN_KEY_BYTES} bytes, got ${short.length}`);
    const valueId = keyId(material.valueKey);
    if (this.#valueKey && valueId !== this.#valueId) {
      throw new Error(`the value key changed (${this.#valueId} → ${valueId}); it cannot change while confighash runs`);
    }
    const keys = new Map(all.map((key) => [keyId(key), createSecretKey(key)]));
    if (!keys.has(material.signingId)) throw new Error(`the signing key ${material.signingId} is not among the keys`);
    // KeyObjects, not Buffers: createHmac then skips preparing the key, 5x faster per digest.
    this.#valueId = valueId;
    this.#valueKey = keys.get(valueId);
    this.#keys = keys;
    this.#signingId = material.signingId;
  }

  get signingId(): string {
    return this.#signingId;
  }

  get valueKeyId(): string {
    return this.#valueId;
  }

  valueKey(): KeyObject {
    if (!this.#valueKey) throw new Error('keyring has no value key');
    return this.#valueKey;
  }

  /** The key with this id, if this installation still has it. */
  key(id: string): KeyObject | undefined {
    return this.#keys.get(id);
  }

  ids(): string[] {
    return [...this.#keys.keys()];
  }
}
