// The SBOM of an image from its layers: OS packages (dpkg, apk, rpm) and what builds add (Go binaries' build
// info, npm/Python lock files, Maven POMs and jars), each credited to the layer that introduced it, written as
// SPDX 2.3 or CycloneDX 1.5 JSON. Same input, same bytes: nothing depends on the clock, the walk order or the
// cache. See README.md for what each cataloger reads and its bounds.
import { S2IError } from '../errors.js';
import { excludeTree, readMountinfo } from '../layer/snapshot-exclude.js';
import { loadFindings, storeFindings } from './cache.js';
import { stackLayers } from './catalog.js';
import { cyclonedxDocument } from './cyclonedx.js';
import { catalogLayer, type KnownFile, type LayerFindings } from './layer-catalog.js';
import { comparePackages, type Package } from './model.js';
import { withOsPurl } from './os-purl.js';
import { spdxDocument } from './spdx.js';
import { Tree } from './tree.js';
import { packageId } from './ids.js';

export type SbomFormat = 'spdx' | 'cyclonedx';

export interface SbomLayer {
  diffID: string;
  /**
   * A directory with this layer's files: an unpacked layer dir of the store (overlay lower-dir conventions:
   * whiteouts are char devices 0:0, opaque dirs have xattr user.overlay.opaque=y; spec/store-format.md), or the
   * build's new-layer tree; or, with `rootfs`, a whole root filesystem.
   */
  dir: string;
  /**
   * `dir` is a whole root filesystem (an in-image build's "/"): no whiteouts, /proc, /sys and /dev never entered,
   * never cached (its content is not the diffID's). `paths`: walk only these subtrees for what builds add (the
   * package databases are read wherever they are); `files`: no walk, only these regular files (paths inside
   * `dir`, from a walk the caller made anyway; the catalog reads those `catalogCandidate` takes); `skipMounts`
   * (default true): leave out every mount point below `dir` (/proc/self/mountinfo) and never cross into another
   * file system; `known`: with `files`, what some of them gave when read earlier (layer-catalog.ts
   * `catalogFilesAhead`, a store's kept findings), for files the caller knows unchanged since, taken while each
   * has the size, mtime and mode it had; `record`: filled with what the files read here gave.
   */
  rootfs?: { paths?: string[]; files?: string[]; skipMounts?: boolean; known?: ReadonlyMap<string, KnownFile>; record?: Map<string, KnownFile> };
}

export interface SbomInput {
  format: SbomFormat;
  subject: { name: string; digest?: string };
  /** Bottom to top. */
  layers: SbomLayer[];
  /** RFC 3339, the image's created time, so reproducible builds give the same bytes. */
  created: string;
  tool: { name: string; version: string };
  /** Where per-layer results may be cached by diffID. */
  cacheDir?: string;
}

export interface SbomDocument {
  format: SbomFormat;
  /** application/spdx+json | application/vnd.cyclonedx+json */
  mediaType: string;
  /** The in-toto predicate type for this format (as cosign's `--type spdxjson|cyclonedx` names them). */
  predicateType: string;
  bytes: Buffer;
  packages: number;
  /** One line each: what was found but not read (a symlinked database, a corrupt one, a bound reached). */
  warnings: string[];
}

const FORMATS: Record<SbomFormat, { mediaType: string; predicateType: string }> = {
  spdx: { mediaType: 'application/spdx+json', predicateType: 'https://spdx.dev/Document' },
  cyclonedx: { mediaType: 'application/vnd.cyclonedx+json', predicateType: 'https://cyclonedx.org/bom' },
};

/** RFC 3339 → the second-precision UTC form both formats accept (SPDX requires YYYY-MM-DDThh:mm:ssZ). */
function createdTime(created: string): string {
  const t = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i.test(created) ? Date.parse(created) : NaN;
  if (Number.isNaN(t)) throw new S2IError('ERR_SBOM_INPUT', `SBOM: created time ${JSON.stringify(created)} is not RFC 3339; pass the image's created time (e.g. 2024-01-02T03:04:05Z)`);
  return new Date(Math.floor(t / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

function openTree(layer: SbomLayer): Tree {
  const skipMounts = layer.rootfs?.skipMounts ?? true;
  try {
    return new Tree(layer.dir, layer.rootfs === undefined, layer.rootfs !== undefined && !skipMounts);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new S2IError('ERR_SBOM_INPUT', `SBOM: the files of layer ${layer.diffID} at ${layer.dir} cannot be opened as a directory (${code}); unpack the layer into the store again`);
  }
}

export async function generateSbom(input: SbomInput): Promise<SbomDocument> {
  const fmt = FORMATS[input.format];
  if (!fmt) throw new S2IError('ERR_SBOM_INPUT', `SBOM: unknown format ${JSON.stringify(input.format)}; use spdx or cyclonedx`);
  const created = createdTime(input.created);
  const trees: Tree[] = [];
  try {
    const findings: LayerFindings[] = [];
    for (const layer of input.layers) {
      const tree = openTree(layer);
      trees.push(tree);
      const cacheable = input.cacheDir !== undefined && layer.rootfs === undefined;
      let f = cacheable ? loadFindings(input.cacheDir!, layer.diffID) : undefined;
      if (!f) {
        const skipMounts = layer.rootfs?.skipMounts ?? true;
        f = catalogLayer(tree, {
          wholeRoot: layer.rootfs !== undefined,
          crossMounts: layer.rootfs !== undefined && !skipMounts,
          ...(layer.rootfs?.paths ? { paths: layer.rootfs.paths } : {}),
          ...(layer.rootfs?.files ? { files: layer.rootfs.files } : {}),
          ...(layer.rootfs?.known ? { known: layer.rootfs.known } : {}),
          ...(layer.rootfs?.record ? { record: layer.rootfs.record } : {}),
          ...(layer.rootfs && skipMounts ? { exclude: excludeTree(layer.dir, [], readMountinfo()) } : {}),
        });
        if (cacheable) storeFindings(input.cacheDir!, layer.diffID, f);
      }
      findings.push(f);
      await new Promise((r) => setImmediate(r));
    }
    const stacked = stackLayers(trees, findings, input.layers.map((l) => l.diffID));
    const packages = unique(stacked.packages.map((p) => withOsPurl(p, stacked.os))).sort(comparePackages);
    const doc = input.format === 'spdx'
      ? spdxDocument(input.subject, packages, created, input.tool)
      : cyclonedxDocument(input.subject, packages, created, input.tool);
    return {
      format: input.format,
      mediaType: fmt.mediaType,
      predicateType: fmt.predicateType,
      bytes: Buffer.from(JSON.stringify(doc)),
      packages: packages.length,
      warnings: [...new Set(findings.flatMap((f) => f.warnings))],
    };
  } finally {
    for (const t of trees) t.close();
  }
}

/** One entry per (type, name, version, location, layer): a file listed twice by its lock file counts once. */
function unique(packages: Package[]): Package[] {
  const seen = new Map<string, Package>();
  for (const p of packages) if (!seen.has(packageId(p))) seen.set(packageId(p), p);
  return [...seen.values()];
}
