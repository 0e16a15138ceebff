// The layers as overlayfs stacks them (spec/store-format.md, kernel Documentation/filesystems/overlayfs.rst):
// a path is what the topmost layer that has it says; a whiteout (char 0:0) at the path or above it deletes it for
// every layer below; an opaque directory hides everything below it in lower layers; a non-directory that replaces
// an ancestor directory hides it too.
import type { Tree } from './tree.js';

/** What one layer does to a path: has it, deletes it (or hides it), or leaves the lower layers' version. */
export type PathState = 'present' | 'deleted' | 'untouched';

export function pathState(tree: Tree, comps: readonly string[]): PathState {
  let hidden = false;
  for (let i = 1; i <= comps.length; i++) {
    const e = tree.entry(comps.slice(0, i));
    if (e.kind === 'whiteout') return 'deleted';
    if (e.kind === 'absent') return hidden ? 'deleted' : 'untouched';
    if (i === comps.length) return 'present';
    if (e.kind !== 'dir') return 'deleted';
    if (e.opaque) hidden = true;
  }
  return 'untouched';
}

/** Whether a path found in layer `index` is still what the image shows: no layer above has, deletes or hides it. */
export function visibleFrom(trees: readonly Tree[], index: number, comps: readonly string[]): boolean {
  for (let j = index + 1; j < trees.length; j++) if (pathState(trees[j]!, comps) !== 'untouched') return false;
  return true;
}
