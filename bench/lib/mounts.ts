// Removing a bench work directory that may still hold mounts: buildah's overlay driver bind-mounts its storage
// directory onto itself and a run cut short (a killed bench, a machine restart) leaves that and layer mounts
// behind, so a plain recursive remove fails with EBUSY on the next run.
import { readFileSync, realpathSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

/** Mount points at or under `dir` (this process's mount namespace), deepest first. */
export function mountsUnder(dir: string): string[] {
  let root: string;
  try {
    root = realpathSync(dir);
  } catch {
    return [];
  }
  let info: string;
  try {
    info = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const out = new Set<string>();
  for (const line of info.split('\n')) {
    // Field 5 is the mount point, with space, tab, newline and backslash written as octal escapes.
    const point = line.split(' ')[4]?.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (point && (point === root || point.startsWith(root + path.sep))) out.add(point);
  }
  return [...out].sort((a, b) => b.length - a.length);
}

/** Unmounts whatever is mounted under `dir` (lazily, so a busy mount goes too) and removes it. */
export function removeTree(dir: string): void {
  for (const point of mountsUnder(dir)) spawnSync('umount', ['-l', point], { stdio: 'ignore' });
  rmSync(dir, { recursive: true, force: true });
}
