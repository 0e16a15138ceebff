// Per-layer findings cached by diffID (a layer's content never changes under its diffID), so a warm build
// catalogs only its new layer. One JSON file per layer and findings version, written to a temp file and renamed
// (a reader sees a whole entry or none); an entry that does not parse, or is of another version, is ignored.
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { FINDINGS_VERSION, type LayerFindings } from './layer-catalog.js';

const DIFF_ID = /^(sha256|sha512):[a-f0-9]{64,128}$/;

function entryPath(cacheDir: string, diffID: string): string | undefined {
  if (!DIFF_ID.test(diffID)) return undefined;
  return path.join(cacheDir, `${diffID.replace(':', '-')}.v${FINDINGS_VERSION}.json`);
}

export function loadFindings(cacheDir: string, diffID: string): LayerFindings | undefined {
  const p = entryPath(cacheDir, diffID);
  if (!p) return undefined;
  try {
    const v = JSON.parse(readFileSync(p, 'utf8')) as LayerFindings;
    if (v.version !== FINDINGS_VERSION || typeof v.dbs !== 'object' || !Array.isArray(v.files) || !Array.isArray(v.warnings)) return undefined;
    return v;
  } catch {
    return undefined;
  }
}

export function storeFindings(cacheDir: string, diffID: string, findings: LayerFindings): void {
  const p = entryPath(cacheDir, diffID);
  if (!p) return;
  mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
  const tmp = `${p}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    writeFileSync(tmp, JSON.stringify(findings), { mode: 0o600, flag: 'wx' });
    renameSync(tmp, p);
  } finally {
    rmSync(tmp, { force: true });
  }
}
