// package-lock.json, lockfileVersion 2 and 3 (https://docs.npmjs.com/cli/configuring-npm/package-lock-json):
// `packages` maps an install path ("" is the project itself, "node_modules/a/node_modules/b" a nested install)
// to {name?, version, resolved, integrity, license, link}. Version 1 files (no `packages`) are not read.
import type { Package } from './model.js';
import { purl } from './purl.js';

export function parsePackageLock(text: string, location: string): Package[] | string {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return 'not valid JSON';
  }
  if (typeof doc !== 'object' || doc === null) return 'not a JSON object';
  const packages = (doc as { packages?: unknown }).packages;
  if (typeof packages !== 'object' || packages === null) return 'no "packages" (lockfileVersion 1 is not read)';
  const out: Package[] = [];
  const seen = new Set<string>();
  for (const [key, raw] of Object.entries(packages as Record<string, unknown>)) {
    if (key === '' || typeof raw !== 'object' || raw === null) continue;
    const e = raw as { name?: unknown; version?: unknown; link?: unknown; license?: unknown; integrity?: unknown; dev?: unknown };
    if (e.link === true || typeof e.version !== 'string' || e.version === '') continue;
    const i = key.lastIndexOf('node_modules/');
    const name = typeof e.name === 'string' && e.name !== '' ? e.name : i >= 0 ? key.slice(i + 'node_modules/'.length) : '';
    if (!/^(@[^/\s]+\/)?[^/@\s][^/\s]*$/.test(name)) continue;
    const id = `${name}@${e.version}`;
    if (seen.has(id)) continue;
    seen.add(id);
    const slash = name.startsWith('@') ? name.indexOf('/') : -1;
    const p: Package = {
      type: 'npm',
      name,
      version: e.version,
      purl: slash > 0 ? purl('npm', name.slice(0, slash), name.slice(slash + 1), e.version) : purl('npm', undefined, name, e.version),
      layer: '',
      location,
    };
    if (typeof e.license === 'string' && e.license !== '') p.license = e.license;
    const facts: Record<string, string> = {};
    if (typeof e.integrity === 'string') facts.integrity = e.integrity;
    if (e.dev === true) facts.dev = 'true';
    if (Object.keys(facts).length > 0) p.facts = facts;
    out.push(p);
  }
  return out;
}
