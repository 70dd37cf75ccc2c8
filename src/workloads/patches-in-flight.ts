// The template stamps this replica's controller is writing right now, so that its
// own webhook can admit them without reading their sources again.
//
// Before it rolls a workload, the controller reads its sources live (the same
// consistent reads the webhook makes) and patches the stamp of what it read,
// guarded by the workload's generation (or, where that guard cannot be used, its
// resourceVersion; see workloads/patcher.ts); the API server then calls the
// webhook with that update, which would read every source again (500 Deployments
// on one ConfigMap: 500 more GETs of it). An admission whose old object is what
// the patch was guarded on (that generation, or that resourceVersion) and whose
// new template carries exactly that stamp is this patch, so the stamp is taken as
// it is.
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
}

/** What a patch was guarded on: the object's generation, or its resourceVersion. */
export type PatchGuard = { generation: number } | { resourceVersion: string };

/** The old object of an admission. */
export interface AdmittedTarget extends PatchTarget {
  resourceVersion: string;
  generation: number | undefined;
}

function key({ kind, namespace, name }: PatchTarget): string {
  return `${kind}/${namespace}/${name}`;
}

export class PatchesInFlight {
  readonly #patches = new Map<string, { checksum: string; guard: PatchGuard }>();

  /** Records that `checksum` is being written to `target`, guarded on `guard`, until the returned function is called. */
  begin(target: PatchTarget, guard: PatchGuard, checksum: string): () => void {
    const at = key(target);
    const patch = { checksum, guard };
    this.#patches.set(at, patch);
    return () => {
      if (this.#patches.get(at) === patch) this.#patches.delete(at);
    };
  }

  /** Whether an update of `old` to a template stamped `checksum` is a patch of this replica's. */
  isOwn(old: AdmittedTarget, checksum: string): boolean {
    const patch = this.#patches.get(key(old));
    if (patch?.checksum !== checksum) return false;
    return 'generation' in patch.guard
      ? patch.guard.generation === old.generation
      : patch.guard.resourceVersion === old.resourceVersion;
  }
}
