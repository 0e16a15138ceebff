// `oci-s2i cache ls|du|verify|prune`: the local store and layer cache (spec/store-format.md). Runs in the private
// (user) namespace: rootless, the unpacked layers hold files owned by subordinate IDs, which only the namespace
// can read as recorded and delete.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { S2IError } from '../../errors.js';
import { defaultRoot } from '../../pipeline/context.js';
import { blobPath, prepareStoreRoot } from '../../store/store-paths.js';
import { diskUsage, listCache, type DiskUsage } from '../../store/inventory.js';
import { orphanAgeMs, parseDuration, pruneStore, type PruneMode } from '../../store/gc.js';
import { layersDir } from '../../store/layer-cache.js';
import { pruneFindings, type HeldByStore } from '../../sbom/cache.js';
import { verifyStore } from '../../store/verify.js';
import type { Command, CommandContext } from '../command.js';
import { str, nonEmptyPath } from '../command.js';
import { ago, humanBytes, table } from '../render.js';

const subcommands = ['ls', 'du', 'verify', 'prune'] as const;

function short(d: string): string {
  return d.replace(/^sha256:/, '').slice(0, 12);
}

export const cacheCommand: Command = {
  name: 'cache',
  summary:
    'Inspect and maintain the local cache: ls (images and layers), du (disk usage by kind), verify (re-hash; drop what is ' +
    'corrupt; set a widened store root back to 0700; exit 1 if anything was wrong), prune (remove what no image name uses, and the SBOM findings kept for what is gone; --all: everything; never what a running build uses).',
  args: ['ls|du|verify|prune'],
  params: [
    { name: 'root', type: 'string', value: 'DIR', description: 'cache and store directory (default $XDG_CACHE_HOME/oci-s2i)', check: nonEmptyPath('root') },
    { name: 'all', type: 'boolean', description: 'prune: remove every image and layer not in use by a running build' },
    { name: 'older-than', type: 'string', value: 'DURATION', description: 'prune: remove images, blobs and layers not used for DURATION (7d, 12h, 30m)' },
  ],
  async run(ctx) {
    const sub = ctx.positionals[0] as (typeof subcommands)[number];
    if (!(subcommands as readonly string[]).includes(sub)) {
      throw new S2IError('ERR_USAGE', `unknown cache subcommand "${String(sub).slice(0, 40)}": use one of ${subcommands.join(', ')}`);
    }
    const root = str(ctx.values.root) ?? defaultRoot();
    const all = ctx.values.all === true;
    const olderThan = str(ctx.values['older-than']);
    if (sub !== 'prune' && (all || olderThan !== undefined)) {
      throw new S2IError('ERR_USAGE', `--all and --older-than belong to \`cache prune\`, not \`cache ${sub}\``);
    }
    if (all && olderThan !== undefined) {
      throw new S2IError('ERR_USAGE', '--all and --older-than exclude each other: --all removes everything not in use');
    }
    // verify and prune take the store's locks: a root that cannot hold a store (`/proc/1/x`) fails here, in one line.
    if (sub === 'verify' || sub === 'prune') await prepareStoreRoot(root);
    switch (sub) {
      case 'ls':
        return ls(ctx, root);
      case 'du':
        return du(ctx, root);
      case 'verify':
        return verify(ctx, root);
      case 'prune': {
        const mode: PruneMode = all ? 'all' : olderThan !== undefined ? 'older-than' : 'unreferenced';
        const r = await pruneStore(root, { mode, ...(olderThan !== undefined ? { olderThanMs: parseDuration(olderThan) } : {}), signal: ctx.signal });
        // The SBOM findings kept for what is gone now (spec/store-format.md sbom/): leftovers too.
        r.garbage += pruneFindings(path.join(root, 'sbom'), heldBy(root), Date.now(), orphanAgeMs);
        if (ctx.global.json) {
          ctx.stdout.write(JSON.stringify(r) + '\n');
        } else {
          for (const n of r.untagged) ctx.stdout.write(`untagged ${n}\n`);
          for (const b of r.blobs) ctx.stdout.write(`deleted blob ${b.digest} (${humanBytes(b.size)})\n`);
          for (const l of r.layers) ctx.stdout.write(`deleted layer ${l.diffID} (${humanBytes(l.size)})\n`);
          if (!ctx.global.quiet) {
            ctx.stderr.write(
              `Freed ${humanBytes(r.freedBytes)}: ${r.blobs.length} blob(s), ${r.layers.length} layer(s), ${r.garbage} leftover(s)` +
                (r.keptInUse > 0 ? `; kept ${r.keptInUse} in use by running builds` : '') +
                '\n',
            );
          }
        }
        return 0;
      }
    }
  },
};

async function ls(ctx: CommandContext, root: string): Promise<number> {
  const r = await listCache(root);
  if (ctx.global.json) {
    ctx.stdout.write(JSON.stringify(r) + '\n');
    return 0;
  }
  const now = Date.now();
  const images = [['NAME', 'DIGEST', 'SIZE', 'LAST USED'], ...r.images.map((i) => [i.name, short(i.digest), humanBytes(i.size), ago(i.lastUsed, now)])];
  const layers = [['DIFF ID', 'SIZE', 'FILES', 'LAST USED'], ...r.layers.map((l) => [short(l.diffID), humanBytes(l.size), String(l.entries), ago(l.lastUsed, now)])];
  ctx.stdout.write(`IMAGES\n${table(images)}\nLAYERS\n${table(layers)}`);
  return 0;
}

async function du(ctx: CommandContext, root: string): Promise<number> {
  const r: DiskUsage = await diskUsage(root);
  if (ctx.global.json) {
    ctx.stdout.write(JSON.stringify(r) + '\n');
    return 0;
  }
  const rows = [['KIND', 'SIZE', 'FILES'], ...(['blobs', 'layers', 'temp', 'other', 'total'] as const).map((k) => [k, humanBytes(r[k].bytes), String(r[k].files)])];
  ctx.stdout.write(table(rows));
  return 0;
}

async function verify(ctx: CommandContext, root: string): Promise<number> {
  const r = await verifyStore(root, { signal: ctx.signal });
  if (ctx.global.json) {
    ctx.stdout.write(JSON.stringify(r) + '\n');
  } else {
    for (const p of r.problems) {
      const verb = p.kind === 'store' ? (p.fixed ? 'fixed' : 'UNSAFE') : p.dropped ? 'dropped' : 'CORRUPT';
      ctx.stdout.write(`${verb} ${p.kind} ${p.id}: ${p.reason}\n`);
    }
    if (!ctx.global.quiet) {
      const corrupt = r.problems.filter((p) => p.kind !== 'store').length;
      const widened = r.problems.length - corrupt;
      ctx.stderr.write(
        `Verified ${r.blobs} blob(s) and ${r.layers} layer(s): ` +
          (corrupt === 0 ? 'all intact' : `${corrupt} corrupt (dropped ones are fetched or unpacked again by the next build)`) +
          (widened > 0 ? '; the store root was reachable by other users' : '') +
          '\n',
      );
    }
  }
  return r.problems.length === 0 ? 0 : 1;
}

/** What the store at `root` holds, for sbom/cache.ts `pruneFindings`. */
function heldBy(root: string): HeldByStore {
  return {
    layer: (diffID) => diffID.startsWith('sha256:') && existsSync(path.join(root, layersDir, 'sha256', diffID.slice(7))),
    blob: (digest) => {
      try {
        return existsSync(blobPath(root, digest));
      } catch {
        return false; // not a digest the store could hold
      }
    },
  };
}
