// The image's packages from its layers' findings, stacked as overlayfs stacks the layers: a package database is
// what the topmost layer that writes it says (a later layer that deletes it, or its directory, empties it), and
// each package is credited to the layer that introduced its current version: walking up, a package keeps the
// layer it first appeared in while every layer that rewrites the database still lists it at the same version.
// A file's packages (a Go binary, a lock file) count while no layer above replaces or deletes that file.
import type { DbState, LayerFindings } from './layer-catalog.js';
import type { Package } from './model.js';
import type { OsRelease } from './os-release.js';
import { visibleFrom } from './stack.js';
import { components, type Tree } from './tree.js';

export interface Stacked {
  packages: Package[];
  os: OsRelease | undefined;
}

function top<T>(layers: readonly LayerFindings[], pick: (f: LayerFindings) => DbState<T> | undefined): T | undefined {
  for (let i = layers.length - 1; i >= 0; i--) {
    const s = pick(layers[i]!);
    if (!s || s.state === 'untouched') continue;
    return s.state === 'present' ? s.value : undefined;
  }
  return undefined;
}

export function stackLayers(trees: readonly Tree[], layers: readonly LayerFindings[], diffIDs: readonly string[]): Stacked {
  const os = top(layers, (f) => f.osRelease['etc/os-release']) ?? top(layers, (f) => f.osRelease['usr/lib/os-release']) ?? undefined;
  const packages: Package[] = [];
  const dbPaths = new Set(layers.flatMap((l) => Object.keys(l.dbs)));
  for (const db of [...dbPaths].sort()) {
    let current = new Map<string, Package>();
    layers.forEach((l, i) => {
      const s = l.dbs[db];
      if (!s || s.state === 'untouched') return;
      const next = new Map<string, Package>();
      if (s.state === 'present') {
        for (const p of s.value) {
          const key = `${p.name}\0${p.facts?.arch ?? ''}`;
          const before = current.get(key);
          next.set(key, before && before.version === p.version ? before : { ...p, layer: diffIDs[i]! });
        }
      }
      current = next;
    });
    packages.push(...current.values());
  }
  const visible = new Map<string, boolean>();
  layers.forEach((l, i) => {
    for (const p of l.files) {
      const key = `${i}\0${p.location}`;
      let v = visible.get(key);
      if (v === undefined) {
        const comps = components(p.location);
        v = comps !== undefined && visibleFrom(trees, i, comps);
        visible.set(key, v);
      }
      if (v) packages.push({ ...p, layer: diffIDs[i]! });
    }
  });
  return { packages, os };
}
