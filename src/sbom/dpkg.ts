// dpkg's database: var/lib/dpkg/status (deb822 stanzas, one per package, dpkg(1) rewrites it whole) and, in
// distroless images, var/lib/dpkg/status.d/NAME (one stanza per file, `NAME.md5sums` beside it).
import type { Package } from './model.js';

export const DPKG_STATUS = 'var/lib/dpkg/status';
export const DPKG_STATUS_D = 'var/lib/dpkg/status.d';

/** The installed packages of a status file (stanzas whose Status says `installed`; the rest is dpkg history). */
export function parseDpkgStatus(text: string, location: string, requireStatus = true): Package[] {
  const out: Package[] = [];
  for (const stanza of text.split(/\n[ \t]*\n/)) {
    const f = fields(stanza);
    const name = f.get('package');
    const version = f.get('version');
    if (!name || !version) continue;
    const status = f.get('status');
    if (requireStatus || status !== undefined) {
      if (!status || status.split(/\s+/)[2] !== 'installed') continue;
    }
    const facts: Record<string, string> = {};
    const arch = f.get('architecture');
    if (arch) facts.arch = arch;
    const source = f.get('source');
    if (source) facts.source = source.split(/\s+/)[0]!;
    out.push({ type: 'deb', name, version, purl: '', layer: '', location, facts });
  }
  return out;
}

/** The simple fields of a deb822 stanza (continuation lines dropped: none of the ones read here has them). */
function fields(stanza: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of stanza.split('\n')) {
    if (line === '' || line[0] === ' ' || line[0] === '\t') continue;
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const k = line.slice(0, i).toLowerCase();
    if (!m.has(k)) m.set(k, line.slice(i + 1).trim());
  }
  return m;
}
