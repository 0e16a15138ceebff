// What the SBOM tests share: independent validators (the SPDX project's own 2.3 JSON schema through ajv; the
// CycloneDX 1.5 schema through @cyclonedx/cyclonedx-library's strict validator), and layer trees made of real
// files with real overlay whiteouts (char 0:0) and opaque directories (user.overlay.opaque=y).
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv2019 } from 'ajv/dist/2019.js';
import addFormats from 'ajv-formats';
import { Spec, Validation } from '@cyclonedx/cyclonedx-library';
import { native, S_IFCHR } from '../../src/sys/native.js';
import { projectRoot } from './cli.js';

let spdxValidate: ReturnType<Ajv2019['compile']> | undefined;

/** The schema errors of an SPDX 2.3 JSON document, [] when it is valid. */
export function spdxErrors(bytes: Buffer): unknown[] {
  if (!spdxValidate) {
    const ajv = new Ajv2019({ strict: false, allErrors: true });
    (addFormats as unknown as (a: Ajv2019) => void)(ajv);
    spdxValidate = ajv.compile(JSON.parse(readFileSync(path.join(projectRoot, 'test/fixtures/sbom/spdx-2.3-schema.json'), 'utf8')) as object);
  }
  const doc = JSON.parse(bytes.toString('utf8')) as unknown;
  return spdxValidate(doc) ? [] : [...(spdxValidate.errors ?? [])];
}

/** The schema errors of a CycloneDX 1.5 JSON document, null when it is valid. */
let cdxValidator: Validation.JsonStrictValidator | undefined;
export async function cyclonedxErrors(bytes: Buffer): Promise<unknown> {
  cdxValidator ??= new Validation.JsonStrictValidator(Spec.Version.v1dot5);
  return cdxValidator.validate(bytes.toString('utf8'));
}

export type LayerEntry = string | Buffer | { whiteout: true } | { symlink: string } | { opaqueDir: true } | { dir: true };

/** Makes a layer tree under `dir`: files (with parents), whiteouts, symlinks, opaque directories. */
export function makeLayer(dir: string, entries: Record<string, LayerEntry>): string {
  mkdirSync(dir, { recursive: true });
  for (const [rel, e] of Object.entries(entries)) {
    const p = path.join(dir, rel);
    mkdirSync(path.dirname(p), { recursive: true });
    if (typeof e === 'string' || Buffer.isBuffer(e)) writeFileSync(p, e);
    else if ('whiteout' in e) native().mknod(p, S_IFCHR | 0o600, 0, 0);
    else if ('symlink' in e) symlinkSync(e.symlink, p);
    else {
      mkdirSync(p, { recursive: true });
      if ('opaqueDir' in e) native().lsetxattr(p, 'user.overlay.opaque', Buffer.from('y'));
    }
  }
  return dir;
}

/** Stanzas of this host's own dpkg status for the packages named (a real file's real format). */
export function hostDpkgStanzas(names: readonly string[]): string {
  const text = readFileSync('/var/lib/dpkg/status', 'utf8');
  const want = new Set(names);
  const picked = text.split(/\n\n+/).filter((s) => want.has(/^Package: (.*)$/m.exec(s)?.[1] ?? ''));
  if (picked.length !== want.size) throw new Error(`this host's dpkg status lacks some of ${names.join(', ')}`);
  return `${picked.join('\n\n')}\n`;
}

/** The installed version of a package on this host, from its dpkg status. */
export function hostDpkgVersion(name: string): string {
  return /^Version: (.*)$/m.exec(hostDpkgStanzas([name]))![1]!;
}

export const diffID = (c: string): string => `sha256:${c.repeat(64).slice(0, 64)}`;
