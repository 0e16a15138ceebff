// Where a sync reads: registry repositories (one image, a list of tags or digests, every tag, the tags a
// regular expression or semver constraint keeps) and OCI layouts or oci-archives (every image they name by its
// full name, as a sync writes them). Each repository is one `SourceRepository`: it opens an image as an
// ImageSource (transport/open.ts, on a registry client shared by every repository with the same settings),
// lists its tags once, and finds the manifests that refer to a digest, which is all the run and the companions
// (companions.ts) ask of it.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { S2IError } from '../errors.js';
import type { ProgressSink } from '../events.js';
import { parseManifestDocument } from '../oci/manifest.js';
import { formatReference, type Reference } from '../oci/reference.js';
import type { Descriptor } from '../oci/types.js';
import { RegistryClient, type RegistryClientOptions } from '../registry/client.js';
import { unpackLayoutArchive } from '../transport/oci-archive.js';
import { OciLayout, OciLayoutSource, refNameAnnotation } from '../transport/oci-layout.js';
import { openSource } from '../transport/open.js';
import type { ImageSource } from '../transport/types.js';
import { isCompanionTag, layoutEntryName, referrersTag, type SourceArg } from './names.js';
import { loadSyncFile, type RegistrySettings } from './yaml-source.js';

/** How to reach a registry: the command line's flags, with a sync file's per-registry settings over them. */
export type ClientSettings = Omit<RegistryClientOptions, 'onProgress' | 'signal'>;

/** What a sync reads, after the command line and any sync file are read. */
export type SyncSource =
  | { kind: 'image'; ref: Reference; settings: ClientSettings }
  | {
      kind: 'repository';
      ref: Reference;
      settings: ClientSettings;
      /** Tags and digests to take; undefined: every tag (that `filter` keeps). */
      refs?: string[];
      filter?: { describe: string; keep: (tag: string) => boolean };
      /** Where it was asked for (FILE:LINE of a sync file), for messages. */
      where?: string;
    }
  | { kind: 'layout'; dir: string; name?: string }
  | { kind: 'archive'; file: string; name?: string };

/** `base` with `over` on top: a side's own flags over the shared ones, a sync file's registry block over those. */
export function withSettings(base: ClientSettings, over: RegistrySettings & { authFile?: string }): ClientSettings {
  const out: ClientSettings = { ...base };
  if (over.tlsVerify === false) Object.assign(out, { tlsVerify: false, plainHttp: undefined });
  if (over.tlsVerify === true) {
    out.tlsVerify = true;
    delete out.plainHttp;
  }
  if (over.certDir !== undefined) out.certDir = over.certDir;
  if (over.authFile !== undefined) out.authFile = over.authFile;
  if (over.credentials) out.credentials = over.credentials;
  return out;
}

/** The sources the command line names, sync files read (ERR_SYNC_FILE on a bad one, before anything else runs). */
export async function syncSources(args: readonly SourceArg[], settings: ClientSettings): Promise<SyncSource[]> {
  const out: SyncSource[] = [];
  for (const a of args) {
    switch (a.kind) {
      case 'docker':
        out.push(a.wholeRepository ? { kind: 'repository', ref: a.ref, settings } : { kind: 'image', ref: a.ref, settings });
        break;
      case 'yaml':
        for (const sel of await loadSyncFile(a.file)) {
          out.push({
            kind: 'repository',
            ref: sel.repository,
            settings: withSettings(settings, sel.settings),
            ...(sel.refs ? { refs: sel.refs } : {}),
            ...(sel.filter ? { filter: sel.filter } : {}),
            where: sel.where,
          });
        }
        break;
      case 'oci':
        out.push({ kind: 'layout', dir: a.dir, ...(a.name ? { name: a.name } : {}) });
        break;
      case 'oci-archive':
        out.push({ kind: 'archive', file: a.file, ...(a.name ? { name: a.name } : {}) });
        break;
    }
  }
  return out;
}

/** One repository a sync reads from. */
export interface SourceRepository {
  /** Opens the image `ref` of this repository. */
  open(ref: Reference): Promise<ImageSource>;
  /** Every tag, as the source lists them (read once). */
  tags(): Promise<string[]>;
  /** Whether `tag` exists: looked up in the tag list, or asked for when the list cannot be read. */
  hasTag(tag: string): Promise<boolean>;
  /** The manifests whose `subject` is `digest`. */
  referrers(digest: string): Promise<Descriptor[]>;
}

/** The errors that say "there is no such manifest", as opposed to "cannot tell". */
export function isAbsent(e: unknown): boolean {
  return e instanceof S2IError && ['ERR_MANIFEST_UNKNOWN', 'ERR_NAME_UNKNOWN', 'ERR_TAG_NOT_FOUND', 'ERR_LAYOUT_NOT_FOUND'].includes(e.code);
}

class RegistryRepository implements SourceRepository {
  private tagList: Promise<string[]> | undefined;

  constructor(
    private readonly client: RegistryClient,
    private readonly at: Reference,
  ) {}

  open(ref: Reference): Promise<ImageSource> {
    return openSource({ transport: 'docker', ref }, { client: this.client });
  }

  tags(): Promise<string[]> {
    return (this.tagList ??= this.client.repository(this.at.registry, this.at.repository).tags());
  }

  async hasTag(tag: string): Promise<boolean> {
    const listed = await this.tags().catch(() => undefined);
    if (listed) return listed.includes(tag);
    try {
      await this.client.repository(this.at.registry, this.at.repository).resolve(tag);
      return true;
    } catch (e) {
      if (isAbsent(e)) return false;
      throw e;
    }
  }

  /** The referrers API, else the tag schema index: asked for only when the tag list has it (or cannot be read). */
  async referrers(digest: string): Promise<Descriptor[]> {
    const listed = await this.tags().catch(() => undefined);
    const tagSchema = listed === undefined || listed.includes(referrersTag(digest));
    return this.client.repository(this.at.registry, this.at.repository).referrers(digest, { tagSchema });
  }
}

/** The registry repository of `ref` as a SourceRepository (`copy` carries an image's companions through it). */
export function registrySourceRepository(client: RegistryClient, ref: Reference): SourceRepository {
  return new RegistryRepository(client, { registry: ref.registry, repository: ref.repository });
}

/** How a layout names an image of a repository: its full name (what sync writes), or a bare tag (what copy writes). */
type LayoutKey = (ref: Reference) => string | undefined;

/** The images of one repository in a layout, by the names index.json gives them. */
class LayoutRepository implements SourceRepository {
  /** Key (`keyOf`) → the image's name and the ref.name written in index.json. */
  private readonly names = new Map<string, { name: Reference; refName: string }>();

  constructor(
    private readonly layout: OciLayout,
    private readonly location: string,
    private readonly at: Reference,
    private readonly keyOf: LayoutKey = formatReference,
  ) {}

  add(name: Reference, refName: string): void {
    const key = this.keyOf(name);
    if (key !== undefined) this.names.set(key, { name, refName });
  }

  private refName(ref: Reference): string | undefined {
    const key = this.keyOf(ref);
    return key === undefined ? undefined : (this.names.get(key)?.refName ?? key);
  }

  async open(ref: Reference): Promise<ImageSource> {
    const refName = this.refName(ref);
    return new OciLayoutSource(this.layout, refName, `${this.location}${refName === undefined ? '' : `:${refName}`}`);
  }

  async tags(): Promise<string[]> {
    return [...this.names.values()].flatMap(({ name }) => (name.tag !== undefined && name.digest === undefined ? [name.tag] : []));
  }

  async hasTag(tag: string): Promise<boolean> {
    const key = this.keyOf({ ...this.at, tag });
    return key !== undefined && this.names.has(key);
  }

  /** A layout has no referrers API: the referrers index stored under the digest's tag, if any. */
  async referrers(digest: string): Promise<Descriptor[]> {
    const tag = referrersTag(digest);
    if (!(await this.hasTag(tag))) return [];
    const { bytes, descriptor } = await (await this.open({ ...this.at, tag })).resolve();
    const parsed = parseManifestDocument(bytes, descriptor.mediaType);
    return parsed.kind === 'index' ? parsed.index.manifests : [];
  }
}

/** The repository of a bare-tag layout: no registry, no path; an image is its tag. */
const bareRepository: Reference = { registry: '', repository: '' };

/**
 * The image `refName` of the layout at `dir` (undefined: its only image) with the images beside it, as `copy` reads
 * them: a full name (`HOST/REPO:TAG`, sync's) finds its companions under the same repository's names, a bare tag
 * (`latest`, copy's and a build's) under bare tags (`sha256-<hex>`, `sha256-<hex>.sig`).
 */
export async function layoutSourceRepository(dir: string, refName: string | undefined): Promise<{ repository: SourceRepository; name: Reference }> {
  const layout = await OciLayout.openExisting(dir);
  const full = refName === undefined ? undefined : layoutEntryName(refName);
  const at = full ? { registry: full.registry, repository: full.repository } : bareRepository;
  const repository = full ? new LayoutRepository(layout, `oci:${dir}`, at) : new LayoutRepository(layout, `oci:${dir}`, at, (r) => r.tag);
  for (const entry of (await layout.readIndex()).manifests) {
    const n = entry.annotations?.[refNameAnnotation];
    if (n === undefined) continue;
    const name = full ? layoutEntryName(n) : { ...bareRepository, tag: n };
    if (name && name.registry === at.registry && name.repository === at.repository) repository.add(name, n);
  }
  return { repository, name: full ?? (refName === undefined ? bareRepository : { ...bareRepository, tag: refName }) };
}

/** One image to sync. */
export interface PlannedImage {
  /** Its full name where it came from (HOST/REPO:TAG or @DIGEST), which also names it at the destination. */
  name: Reference;
  repository: SourceRepository;
  /** How it is shown: docker://…, oci:DIR:NAME. */
  source: string;
}

/** A source that gave no image (a repository that cannot be listed, an empty layout). */
export interface PlanProblem {
  source: string;
  error: unknown;
}

export interface PlanContext {
  onProgress: ProgressSink;
  signal?: AbortSignal;
  /** Where archives are unpacked. Default os.tmpdir(). */
  tmpDir?: string;
}

/**
 * What the sources name, as images: tags listed where a whole repository or a filter asks for them (the tags
 * of signatures and referrers indexes left out: they travel with their images), layouts read. Owns the registry
 * clients and the unpacked archives until `close()`.
 */
export class SyncPlanner {
  private readonly clients = new Map<string, RegistryClient>();
  private readonly repositories = new Map<string, RegistryRepository>();
  private readonly tmpDirs: string[] = [];

  constructor(private readonly ctx: PlanContext) {}

  /** The client for these settings, shared with every repository that has the same. */
  client(settings: ClientSettings): RegistryClient {
    const key = JSON.stringify(settings);
    let c = this.clients.get(key);
    if (!c) {
      c = new RegistryClient({ ...settings, onProgress: this.ctx.onProgress, ...(this.ctx.signal ? { signal: this.ctx.signal } : {}) });
      this.clients.set(key, c);
    }
    return c;
  }

  private registryRepository(ref: Reference, settings: ClientSettings): RegistryRepository {
    const key = `${JSON.stringify(settings)} ${ref.registry}/${ref.repository}`;
    let r = this.repositories.get(key);
    if (!r) {
      r = new RegistryRepository(this.client(settings), { registry: ref.registry, repository: ref.repository });
      this.repositories.set(key, r);
    }
    return r;
  }

  async plan(sources: readonly SyncSource[]): Promise<{ images: PlannedImage[]; problems: PlanProblem[] }> {
    const images: PlannedImage[] = [];
    const problems: PlanProblem[] = [];
    const seen = new Set<string>();
    const add = (list: PlannedImage[]) => {
      // The same image asked for twice (a tag both listed and matched); equal names from two sources are not
      // the same image, and run.ts refuses to write both under one name.
      for (const i of list) {
        const key = i.source;
        if (seen.has(key)) continue;
        seen.add(key);
        images.push(i);
      }
    };
    for (const s of sources) {
      this.ctx.signal?.throwIfAborted();
      try {
        add(await this.planOne(s));
      } catch (e) {
        if (this.ctx.signal?.aborted) throw e;
        problems.push({ source: describeSource(s), error: e });
      }
    }
    return { images, problems };
  }

  private async planOne(s: SyncSource): Promise<PlannedImage[]> {
    switch (s.kind) {
      case 'image':
        return [{ name: s.ref, repository: this.registryRepository(s.ref, s.settings), source: `docker://${formatReference(s.ref)}` }];
      case 'repository':
        return this.planRepository(s);
      case 'layout':
        return this.planLayout(await OciLayout.openExisting(s.dir), `oci:${s.dir}`, s.name);
      case 'archive': {
        const tmp = await fs.mkdtemp(path.join(this.ctx.tmpDir ?? os.tmpdir(), 'oci-s2i-sync-'));
        this.tmpDirs.push(tmp);
        return this.planLayout(await unpackLayoutArchive(s.file, tmp), `oci-archive:${s.file}`, s.name);
      }
    }
  }

  private async planRepository(s: Extract<SyncSource, { kind: 'repository' }>): Promise<PlannedImage[]> {
    const repository = this.registryRepository(s.ref, s.settings);
    const image = (r: string): PlannedImage => {
      const name: Reference = { registry: s.ref.registry, repository: s.ref.repository, ...(r.includes(':') ? { digest: r } : { tag: r }) };
      return { name, repository, source: `docker://${formatReference(name)}` };
    };
    if (s.refs) return s.refs.map(image);
    const tags = (await repository.tags()).filter((t) => !isCompanionTag(t));
    const kept = s.filter ? tags.filter(s.filter.keep) : tags;
    const where = `${s.ref.registry}/${s.ref.repository}${s.where ? ` (${s.where})` : ''}`;
    if (tags.length === 0) throw new S2IError('ERR_TAG_NOT_FOUND', `${where} has no tags to sync`);
    if (kept.length === 0) this.ctx.onProgress({ type: 'log', level: 'warn', message: `${where}: none of its ${tags.length} tags are ${s.filter!.describe}` });
    return kept.map(image);
  }

  private async planLayout(layout: OciLayout, location: string, only: string | undefined): Promise<PlannedImage[]> {
    const repositories = new Map<string, LayoutRepository>();
    const images: PlannedImage[] = [];
    let unnamed = 0;
    for (const entry of (await layout.readIndex()).manifests) {
      const refName = entry.annotations?.[refNameAnnotation];
      const name = refName === undefined ? undefined : layoutEntryName(refName);
      if (!name || refName === undefined) {
        unnamed++;
        continue;
      }
      const key = `${name.registry}/${name.repository}`;
      let repository = repositories.get(key);
      if (!repository) {
        repository = new LayoutRepository(layout, location, { registry: name.registry, repository: name.repository });
        repositories.set(key, repository);
      }
      repository.add(name, refName);
      if (name.tag !== undefined && isCompanionTag(name.tag)) continue;
      if (only !== undefined && only !== refName && only !== formatReference(name)) continue;
      images.push({ name, repository, source: `${location}:${refName}` });
    }
    if (unnamed > 0 && only === undefined) {
      this.ctx.onProgress({ type: 'log', level: 'warn', message: `${location}: ${unnamed} image(s) without a full name (HOST/REPO:TAG in ${refNameAnnotation}) skipped: sync cannot tell which repository they belong to` });
    }
    if (images.length === 0) {
      throw new S2IError('ERR_TAG_NOT_FOUND', only !== undefined ? `${location} has no image named ${only}` : `${location} names no images by HOST/REPO:TAG; it holds nothing sync can place`);
    }
    return images;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.clients.values()].map((c) => c.close()));
    for (const d of this.tmpDirs) await fs.rm(d, { recursive: true, force: true });
  }
}

function describeSource(s: SyncSource): string {
  switch (s.kind) {
    case 'image':
    case 'repository':
      return `docker://${formatReference(s.ref)}${s.kind === 'repository' && s.where ? ` (${s.where})` : ''}`;
    case 'layout':
      return `oci:${s.dir}${s.name ? `:${s.name}` : ''}`;
    case 'archive':
      return `oci-archive:${s.file}${s.name ? `:${s.name}` : ''}`;
  }
}
