// Python lock and requirement files: requirements*.txt (only pinned `name==version` lines: an unpinned
// requirement names no version that is installed), poetry.lock ([[package]] tables, TOML) and Pipfile.lock
// (JSON, `default` and `develop` maps with `version: "==x"`).
import { parse as parseToml } from 'smol-toml';
import type { Package } from './model.js';
import { purl } from './purl.js';

/** PEP 503 normalized name, as the pypi purl type asks. */
function normalize(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}

function pkg(name: string, version: string, location: string): Package | undefined {
  if (!/^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/.test(name) || !/^[A-Za-z0-9!+._-]{1,100}$/.test(version)) return undefined;
  const n = normalize(name);
  return { type: 'pypi', name: n, version, purl: purl('pypi', undefined, n, version), layer: '', location };
}

export function parseRequirements(text: string, location: string): Package[] {
  const out: Package[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\s+#.*$/, '').trim();
    const m = /^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*===?\s*([^\s;,\\]+)/.exec(line);
    if (!m) continue;
    const p = pkg(m[1]!, m[3]!, location);
    if (p) out.push(p);
  }
  return out;
}

export function parsePoetryLock(text: string, location: string): Package[] | string {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch {
    return 'not valid TOML';
  }
  const list = doc.package;
  if (!Array.isArray(list)) return 'no [[package]] tables';
  const out: Package[] = [];
  for (const e of list) {
    const { name, version } = (e ?? {}) as { name?: unknown; version?: unknown };
    if (typeof name !== 'string' || typeof version !== 'string') continue;
    const p = pkg(name, version, location);
    if (p) out.push(p);
  }
  return out;
}

export function parsePipfileLock(text: string, location: string): Package[] | string {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return 'not valid JSON';
  }
  if (typeof doc !== 'object' || doc === null) return 'not a JSON object';
  const out: Package[] = [];
  for (const section of ['default', 'develop']) {
    const m = (doc as Record<string, unknown>)[section];
    if (typeof m !== 'object' || m === null) continue;
    for (const [name, raw] of Object.entries(m as Record<string, unknown>)) {
      const v = (raw as { version?: unknown } | null)?.version;
      if (typeof v !== 'string' || !v.startsWith('==')) continue;
      const p = pkg(name, v.slice(2), location);
      if (p) out.push(p);
    }
  }
  return out;
}
