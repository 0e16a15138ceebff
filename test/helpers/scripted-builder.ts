// A busybox S2I builder with the given scripts (their text), pushed to `repo:tag`: the set-up most pipeline tests
// start from. The scripts are written under `dir` (a test's temp dir), executable.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Repository } from '../../src/registry/client.js';
import { pushBusyboxBuilder, type BuilderSpec } from '../../src/demo/busybox-image.js';

export async function pushScriptedBuilder(repo: Repository, tag: string, dir: string, scripts: Record<string, string>, spec: Omit<BuilderSpec, 'scriptsDir'> = {}): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const scriptsDir = mkdtempSync(path.join(dir, 'scripts-'));
  for (const [name, text] of Object.entries(scripts)) writeFileSync(path.join(scriptsDir, name), text, { mode: 0o755 });
  return pushBusyboxBuilder(repo, tag, { ...spec, scriptsDir });
}
