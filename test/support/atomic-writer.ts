// A volume updated exactly the way the kubelet's atomic writer does it: each
// version is a complete timestamped directory `..<timestamp>`; then a `..data_tmp`
// symlink to it is renamed onto `..data`; each file is a symlink `name -> ..data/name`;
// the previous version is removed. `stage` writes a version without swapping, to
// show a half-updated volume.
import { mkdir, readdir, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export class AtomicWriter {
  readonly dir: string;
  #counter = 0;
  #staged: string | undefined;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** Writes `files` as a new version and swaps it in. */
  async write(files: Record<string, string>): Promise<void> {
    await this.stage(files);
    await this.swap();
  }

  /** Writes the new version's directory completely, but does not swap `..data` yet. */
  async stage(files: Record<string, string>): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const version = `..2026_11_23_16_00_00.${String(++this.#counter).padStart(9, '0')}`;
    await mkdir(join(this.dir, version));
    for (const [name, content] of Object.entries(files)) await writeFile(join(this.dir, version, name), content);
    this.#staged = version;
  }

  async swap(): Promise<void> {
    const version = this.#staged;
    if (!version) throw new Error('nothing staged');
    const previous = await readlink(join(this.dir, '..data')).catch(() => undefined);
    await symlink(version, join(this.dir, '..data_tmp'));
    await rename(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
    for (const name of await readdir(join(this.dir, version))) {
      await symlink(join('..data', name), join(this.dir, name)).catch(() => undefined);
    }
    if (previous) await rm(join(this.dir, previous), { recursive: true, force: true });
    this.#staged = undefined;
  }
}
