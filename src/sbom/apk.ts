// apk's database: lib/apk/db/installed, one record per package separated by blank lines, `X:value` lines
// (https://wiki.alpinelinux.org/wiki/Apk_spec: P name, V version, A arch, L license, o origin).
import type { Package } from './model.js';

export const APK_INSTALLED = 'lib/apk/db/installed';

export function parseApkInstalled(text: string, location: string): Package[] {
  const out: Package[] = [];
  for (const record of text.split(/\n\s*\n/)) {
    const f = new Map<string, string>();
    for (const line of record.split('\n')) {
      if (line.length < 2 || line[1] !== ':') continue;
      const k = line[0]!;
      if (!f.has(k)) f.set(k, line.slice(2).trim());
    }
    const name = f.get('P');
    const version = f.get('V');
    if (!name || !version) continue;
    const facts: Record<string, string> = {};
    const arch = f.get('A');
    if (arch) facts.arch = arch;
    const origin = f.get('o');
    if (origin) facts.source = origin;
    const pkg: Package = { type: 'apk', name, version, purl: '', layer: '', location, facts };
    const license = f.get('L');
    if (license) pkg.license = license;
    out.push(pkg);
  }
  return out;
}
