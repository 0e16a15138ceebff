// A Go binary's build info as packages: the main module, each dependency (replacements applied, as the
// binary was built), and the standard library at the Go version it was built with (as syft and trivy list it).
import type { GoBuildInfo, GoModule } from './go-buildinfo.js';
import type { Package } from './model.js';
import { purl } from './purl.js';

function goPurl(path: string, version: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? purl('golang', undefined, path, version) : purl('golang', path.slice(0, i), path.slice(i + 1), version);
}

function modulePackage(m: GoModule, location: string, goVersion: string, main: boolean): Package | undefined {
  if (!/^[^\s]{1,300}$/.test(m.path) || /\s/.test(m.version) || m.path.startsWith('.') || m.path.startsWith('/')) return undefined;
  const facts: Record<string, string> = { goVersion };
  if (m.sum) facts.sum = m.sum;
  if (main) facts.mainModule = 'true';
  const version = m.version === '(devel)' ? '' : m.version;
  return { type: 'golang', name: m.path, version: m.version, purl: goPurl(m.path, version), layer: '', location, facts };
}

export function goPackages(info: GoBuildInfo, location: string): Package[] {
  const out: Package[] = [];
  if (info.main) {
    const p = modulePackage(info.main, location, info.goVersion, true);
    if (p) out.push(p);
  }
  for (const d of info.deps) {
    const p = modulePackage(d, location, info.goVersion, false);
    if (p) out.push(p);
  }
  const std = /^go(\d+\.\d+(\.\d+)?)/.exec(info.goVersion);
  if (std) out.push({ type: 'golang', name: 'stdlib', version: info.goVersion, purl: purl('golang', undefined, 'stdlib', std[1]!), layer: '', location, facts: { goVersion: info.goVersion } });
  return out;
}
