// The template stamps this replica's controller is writing right now, so that its
// own webhook can admit them without reading their sources again.
//
// Before it rolls a workload, the controller reads its sources live (the same
// consistent reads the webhook makes) and patches the stamp of what it read,
// guarded by the workload's resourceVersion; the API server then calls the webhook
// with that update, which would read every source again (500 Deployments on one
// ConfigMap: 500 more GETs of it). An admission whose old object is at exactly
// that resourceVersion and whose new template carries exactly that stamp is this
// patch, so the stamp is taken as it is.
//
// Why this stays correct: the stamp describes the sources as read milliseconds
// earlier. Should one change in between, the change reaches the controller on its
// watch and it patches again: one more rollout, for a change that did happen, and
// never a stale template left in place. An admission at another replica (the
// webhook Service balances) finds nothing here and reads the sources as every
// other admission does. Entries live only while their patch request is under way.

export interface PatchTarget {
  kind: string;
  namespace: string;
  name: string;
  resourceVersion: string;
}

function key({ kind, namespace, name, resourceVersion }: PatchTarget): string {
  return `${kind}/${namespace}/${name}@${resourceVersion}`;
}

export class PatchesInFlight {
  readonly #checksums = new Map<string, string>();

  /** Records that `checksum` is being written to `target` until the returned function is called. */
  begin(target: PatchTarget, checksum: string): () => void {
    const at = key(target);
    this.#checksums.set(at, checksum);
    return () => {
      if (this.#checksums.get(at) === checksum) this.#checksums.delete(at);
    };
  }

  /** Whether an update of `target` (its old resourceVersion) to a template stamped `checksum` is a patch of this replica's. */
  isOwn(target: PatchTarget, checksum: string): boolean {
    return this.#checksums.get(key(target)) === checksum;
  }
}
