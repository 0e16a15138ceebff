// `oci-s2i build-image`: runs a parsed Containerfile with no daemon. Each instruction that changes the filesystem
// (COPY, ADD, RUN, a WORKDIR that creates its directory) runs on an overlay whose lower dirs are the base layers
// plus the layers built so far, and its upper dir becomes the next layer, which is unpacked into the layer cache
// to be a lower dir for the next step. With `squash`, one overlay is kept for the whole build and its upper dir
// is the one new layer. Config-only instructions become `empty_layer` history entries.
// Why one file of ~600 lines: every instruction handler reads and changes the same executor state (the overlay
// of the current step, the layers and history so far, the config); split by instruction, that state would be
// passed around or made global. Parsing (parse.ts), COPY/ADD (copy.ts) and the output (output.ts) are apart.
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, realpath, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { S2IError, type ErrorCode, type Step } from '../errors.js';
import type { ProgressSink } from '../events.js';
import type { ContainerConfig, Descriptor, History, ImageConfig, ImageFormat, Platform } from '../oci/types.js';
import { parsePlatform } from '../oci/platform.js';
import { appendLayer, addHistory, setConfigFields, mergeEnv, mergeLabels, serializeConfig, configMediaType } from '../image/config.js';
import { buildManifest, layerMediaType } from '../image/manifest.js';
import { writeLayerFile, type LayerResult } from '../layer/write.js';
import { detectRuntime, prepareRuntime, type Runtime } from '../sandbox/runtime.js';
import { namespaceMode } from '../sandbox/namespace.js';
import { ensureDirInRoot, readFileInRoot } from '../sandbox/rootfs.js';
import { resolveUserSpec } from '../s2i/user.js';
import { openEngine, type Engine, type EngineOptions } from '../pipeline/context.js';
import { checkImporter } from '../pipeline/commit.js';
import type { CompatProfile } from '../image/compat.js';
import type { PullPolicy } from '../pipeline/pull.js';
import { mountRootfs, resolveUser, runScript, type Rootfs } from '../pipeline/sandbox-run.js';
import { Steps } from '../pipeline/steps.js';
import { defaultFormatFor } from '../transport/parse.js';
import { parseContainerfile, parseTriggers, type Containerfile, type Instruction } from './parse.js';
import { lintContainerfile } from './lint.js';
import { expandWord, splitWords, WordError } from './words.js';
import { copyIntoImage, isDirInRoot, type Owner } from './copy.js';
import { resolveBase } from './base.js';
import { writeOutput, type OutputResult } from './output.js';
import { loadIgnore } from './ignore.js';

export interface BuildImageOptions extends EngineOptions {
  /** The build context directory. */
  contextDir: string;
  /** The Containerfile; default <context>/Containerfile, else <context>/Dockerfile. */
  file?: string;
  /** Where the result goes: a registry reference, or `oci:DIR:TAG` / `oci-archive:` / `docker-archive:`. */
  tag: string;
  /** --build-arg NAME=VALUE (or NAME: the value comes from `env`). */
  buildArgs?: string[];
  /** Default: docker for registries and docker-archive:, oci for oci: and oci-archive:. */
  format?: ImageFormat;
  /** One new layer for the whole build. */
  squash?: boolean;
  /** Keep the result in the local store only. */
  noPush?: boolean;
  platform?: Platform;
  pullPolicy?: PullPolicy;
  runtime?: string;
  /** Network of RUN; default 'host'. */
  network?: 'host' | 'none';
  /** Where NAME-only build args are read from; default process.env. */
  env?: NodeJS.ProcessEnv;
}

export interface BuildImageResult {
  reference: string;
  digest: string;
  manifest: { bytes: Buffer; mediaType: string; digest: string };
  config: ImageConfig;
  /** The new layers, in order. */
  layers: LayerResult[];
  timings: Record<string, number>;
  output?: OutputResult;
}

const defaultPath = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const argNameRe = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function parseBuildArgs(list: string[], env: NodeJS.ProcessEnv = process.env): Map<string, string> {
  const out = new Map<string, string>();
  for (const a of list) {
    const eq = a.indexOf('=');
    const name = eq < 0 ? a : a.slice(0, eq);
    if (!argNameRe.test(name)) {
      throw new S2IError('ERR_BUILD_ARG', `invalid --build-arg "${a.slice(0, 100)}": use NAME=VALUE (NAME of letters, digits and _)`);
    }
    if (eq >= 0) out.set(name, a.slice(eq + 1));
    else if (env[name] !== undefined) out.set(name, env[name]!);
  }
  return out;
}

/** Finds the Containerfile: the given path, else Containerfile, else Dockerfile in the context. */
export async function findContainerfile(contextDir: string, file?: string): Promise<string> {
  if (file) return path.resolve(file);
  for (const n of ['Containerfile', 'Dockerfile']) {
    const p = path.join(contextDir, n);
    if (await stat(p).then((s) => s.isFile(), () => false)) return p;
  }
  throw new S2IError('ERR_CONTAINERFILE_MISSING', `no Containerfile or Dockerfile in ${contextDir}: add one or name it with -f`);
}

export async function buildImage(opts: BuildImageOptions): Promise<BuildImageResult> {
  const contextDir = await realpath(opts.contextDir).catch(() => undefined);
  if (!contextDir || !(await stat(contextDir)).isDirectory()) {
    throw new S2IError('ERR_SOURCE_MISSING', `build context ${opts.contextDir} does not exist or is not a directory: give the directory holding the Containerfile`, {
      step: 'source',
    });
  }
  const file = await findContainerfile(contextDir, opts.file);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new S2IError('ERR_CONTAINERFILE_MISSING', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
  const parsed = parseContainerfile(text, path.basename(file));
  lintContainerfile(parsed, path.basename(file));
  const buildArgs = parseBuildArgs(opts.buildArgs ?? [], opts.env);
  const format = opts.format ?? defaultFormatFor(opts.tag);
  const detected = detectRuntime(opts.runtime);
  if (!namespaceMode()) {
    throw new S2IError('ERR_NAMESPACE', 'build-image must run inside the oci-s2i namespace (use the oci-s2i CLI, or reexecInNamespace)');
  }
  const runtime = prepareRuntime(detected, { explicit: opts.runtime !== undefined, onFallback: (message) => opts.onProgress?.({ type: 'log', level: 'warn', message }) });
  const engine = await openEngine(opts);
  const steps = new Steps(engine.onProgress);
  steps.defer('close registry client', () => engine.close());
  try {
    return await runContainerfile(engine, steps, {
      parsed,
      file: path.basename(file),
      contextDir,
      buildArgs,
      runtime,
      format,
      squash: opts.squash ?? false,
      network: opts.network ?? 'host',
      ...(opts.platform ? { platform: opts.platform } : {}),
      ...(opts.pullPolicy ? { pullPolicy: opts.pullPolicy } : {}),
      ignored: await loadIgnore(contextDir, file),
      tag: opts.tag,
      noPush: opts.noPush ?? false,
    });
  } finally {
    await steps.cleanup();
  }
}

/** One parsed Containerfile to run on an open engine (build-image, and s2i's onbuild strategy: onbuild.ts). */
export interface ContainerfileRun extends Omit<ExecutorOptions, 'buildDir'> {
  parsed: Containerfile;
  /** Where the result goes (see BuildImageOptions.tag). */
  tag: string;
  noPush: boolean;
  /** Refuse a result this importer would reject (build's --check; build-image has none). */
  check?: CompatProfile | false;
}

/** Runs the instructions, commits config and manifest into the store, writes the output; cleanups go to `steps`. */
export async function runContainerfile(engine: Engine, steps: Steps, run: ContainerfileRun): Promise<BuildImageResult> {
  const { parsed, tag, noPush, check, ...exOpts } = run;
  const buildsDir = path.join(engine.root, 'builds');
  await mkdir(buildsDir, { recursive: true });
  const buildDir = await mkdtemp(path.join(buildsDir, 'i-'));
  steps.defer('remove build dir', () => rm(buildDir, { recursive: true, force: true }));
  const ex = new Executor(engine, steps, parsed, { ...exOpts, buildDir });
  await ex.run();
  const unused = [...run.buildArgs.keys()].filter((k) => !ex.declaredArgs.has(k));
  if (unused.length) engine.onProgress({ type: 'log', level: 'warn', message: `build args not declared by any ARG were ignored: ${unused.join(', ')}` });
  const commit = await steps.run('commit', async () => {
    const config = { ...ex.config, created: new Date().toISOString() };
    const configBytes = serializeConfig(config);
    const configDesc = await engine.store.putBytes(configBytes, configMediaType(run.format));
    const manifest = buildManifest(run.format, configDesc, ex.layers);
    if (check) checkImporter(engine, check, manifest, config);
    await engine.store.putBytes(manifest.bytes, manifest.mediaType);
    return { config, configDesc, manifest };
  });
  const output = await steps.run(noPush ? 'store' : 'push', () =>
    writeOutput(engine, {
      tag,
      manifest: commit.manifest,
      blobs: [...ex.layers, commit.configDesc],
      baseBlobs: new Set(ex.baseLayers.map((l) => l.digest)),
      ...(ex.baseSource ? { source: ex.baseSource } : {}),
      noPush,
    }),
  );
  return {
    reference: output.reference,
    digest: commit.manifest.digest,
    manifest: commit.manifest,
    config: commit.config,
    layers: ex.newLayers,
    timings: steps.timings,
    output,
  };
}

interface ExecutorOptions {
  file: string;
  contextDir: string;
  buildDir: string;
  buildArgs: Map<string, string>;
  runtime: Runtime;
  format: ImageFormat;
  squash: boolean;
  network: 'host' | 'none';
  platform?: Platform;
  pullPolicy?: PullPolicy;
  ignored?: (rel: string) => boolean;
  /**
   * Run the base image's ONBUILD triggers right after FROM, with this context (Docker's rule; s2i's onbuild
   * strategy needs it). Off: build-image warns that they are not run and keeps them in the config.
   */
  runOnBuild?: boolean;
}

class Executor {
  config!: ImageConfig;
  layers: Descriptor[] = [];
  baseLayers: Descriptor[] = [];
  baseSource: import('../transport/types.js').ImageSource | undefined;
  newLayers: LayerResult[] = [];
  readonly declaredArgs = new Set<string>();
  private lowers: string[] = [];
  /** ARGs in scope: before FROM the global ones, after it those re-declared in the stage. */
  private globalArgs = new Map<string, string | undefined>();
  private args = new Map<string, string | undefined>();
  private shell = ['/bin/sh', '-c'];
  private mount: { rootfs: Rootfs; dir: string } | undefined;
  private stepNo = 0;
  /** RUNs so far (ONBUILD triggers run within the FROM step): names each container and bundle. */
  private runNo = 0;
  /** Squash: index in history of the last filesystem step (it carries the one layer). */
  private squashHistory = -1;
  private readonly onProgress: ProgressSink;
  private readonly id = randomBytes(4).toString('hex');

  constructor(
    private readonly engine: Engine,
    private readonly steps: Steps,
    private readonly cf: Containerfile,
    private readonly o: ExecutorOptions,
  ) {
    this.onProgress = engine.onProgress;
  }

  private fail(ins: Instruction, message: string, code: ErrorCode = 'ERR_CONTAINERFILE_SYNTAX', step?: Step): S2IError {
    return new S2IError(code, `${this.o.file}:${ins.line}: ${message}`, step ? { step } : {});
  }

  private where(ins: Instruction): string {
    return `${this.o.file}:${ins.line}: ${ins.keyword}`;
  }

  /** Variables visible to substitution: ENV wins over ARG (Dockerfile reference, "Using ARG variables"). */
  private lookup = (name: string): string | undefined => {
    for (const e of this.config?.config?.Env ?? []) {
      const eq = e.indexOf('=');
      if ((eq < 0 ? e : e.slice(0, eq)) === name) return eq < 0 ? '' : e.slice(eq + 1);
    }
    return this.args.get(name);
  };

  private expand(ins: Instruction, word: string, lookup = this.lookup): string {
    try {
      return expandWord(word, lookup, this.cf.escape);
    } catch (e) {
      if (e instanceof WordError) throw this.fail(ins, `cannot substitute variables in "${word.slice(0, 80)}": ${e.message}`);
      throw e;
    }
  }

  private words(ins: Instruction): string[] {
    return splitWords(ins.args, this.cf.escape).map((w) => this.expand(ins, w));
  }

  async run(): Promise<void> {
    for (const ins of this.cf.instructions) {
      if (this.engine.signal.aborted) throw new S2IError('ERR_INTERRUPTED', 'build interrupted');
      const label = `${ins.keyword} ${(ins.json ? JSON.stringify(ins.json) : ins.args).slice(0, 60)}`.trim();
      this.onProgress({ type: 'log', level: 'info', message: `STEP ${++this.stepNo}/${this.cf.instructions.length}: ${label}` });
      await this.step(ins);
    }
    await this.finishSquash();
  }

  private async step(ins: Instruction): Promise<void> {
    switch (ins.keyword) {
      case 'ARG':
        return this.arg(ins);
      case 'FROM':
        return this.from(ins);
      case 'ENV':
        return this.env(ins);
      case 'LABEL':
        return this.label(ins);
      case 'USER': {
        const user = this.expand(ins, ins.args.trim());
        return this.configOnly(ins, { User: user }, `USER ${user}`);
      }
      case 'WORKDIR':
        return this.workdir(ins);
      case 'CMD':
        return this.configOnly(ins, { Cmd: this.commandForm(ins) }, `CMD ${JSON.stringify(this.commandForm(ins))}`);
      case 'ENTRYPOINT': {
        const ep = this.commandForm(ins);
        // Setting ENTRYPOINT resets a CMD inherited from the base image (Dockerfile reference, ENTRYPOINT).
        return this.configOnly(ins, { Entrypoint: ep, Cmd: undefined }, `ENTRYPOINT ${JSON.stringify(ep)}`);
      }
      case 'EXPOSE':
        return this.expose(ins);
      case 'VOLUME': {
        const vols = ins.json ?? this.words(ins);
        const v = { ...(this.config.config?.Volumes ?? {}) } as Record<string, object>;
        for (const p of vols) {
          if (p.trim() === '') throw this.fail(ins, 'VOLUME needs a path');
          v[p] = {};
        }
        return this.configOnly(ins, { Volumes: v }, `VOLUME ${JSON.stringify(vols)}`);
      }
      case 'STOPSIGNAL': {
        const sig = this.expand(ins, ins.args.trim());
        if (!/^(SIG)?[A-Z0-9+-]+$|^\d+$/.test(sig)) throw this.fail(ins, `invalid STOPSIGNAL "${sig}": use a signal name (SIGTERM) or number`);
        return this.configOnly(ins, { StopSignal: sig }, `STOPSIGNAL ${sig}`);
      }
      case 'SHELL':
        this.shell = [...ins.json!];
        return this.configOnly(ins, { Shell: [...ins.json!] }, `SHELL ${JSON.stringify(ins.json)}`);
      case 'MAINTAINER': {
        const who = ins.args.trim();
        this.config = { ...this.config, author: who };
        this.config = addHistory(this.config, this.history(`MAINTAINER ${who}`));
        return;
      }
      case 'COPY':
      case 'ADD':
        return this.copy(ins);
      case 'RUN':
        return this.runInstruction(ins);
      default:
        throw this.fail(ins, `${ins.keyword} is not supported`);
    }
  }

  private history(createdBy: string): History {
    return { created: new Date().toISOString(), created_by: createdBy, comment: 'oci-s2i build-image' };
  }

  private configOnly(ins: Instruction, fields: Partial<ContainerConfig>, createdBy: string): void {
    void ins;
    this.config = addHistory(setConfigFields(this.config, fields), this.history(createdBy));
  }

  private arg(ins: Instruction): void {
    const before = this.config === undefined;
    for (const w of splitWords(ins.args, this.cf.escape)) {
      const eq = w.indexOf('=');
      const name = eq < 0 ? w : w.slice(0, eq);
      if (!argNameRe.test(name)) throw this.fail(ins, `invalid ARG name "${name.slice(0, 60)}"`);
      this.declaredArgs.add(name);
      let value: string | undefined;
      if (this.o.buildArgs.has(name)) value = this.o.buildArgs.get(name);
      else if (eq >= 0) value = this.expand(ins, w.slice(eq + 1), before ? (n) => this.globalArgs.get(n) : this.lookup);
      else if (!before) value = this.globalArgs.get(name);
      if (before) this.globalArgs.set(name, value);
      else this.args.set(name, value);
    }
  }

  private async from(ins: Instruction): Promise<void> {
    const image = this.expand(ins, ins.args.trim().split(/\s+/)[0]!, (n) => this.globalArgs.get(n));
    if (image === '') throw this.fail(ins, 'FROM names an empty image (an ARG without a value?)');
    const platformFlag = ins.flags.find((f) => f.name === 'platform')?.value;
    const platform = platformFlag ? parsePlatform(this.expand(ins, platformFlag, (n) => this.globalArgs.get(n))) : this.o.platform;
    const base = await this.steps.run('pull', () =>
      resolveBase(this.engine, image, { ...(platform ? { platform } : {}), ...(this.o.pullPolicy ? { policy: this.o.pullPolicy } : {}) }),
    );
    this.config = structuredClone(base.config);
    // A base image's config may lack these; keep the output valid.
    this.config.config ??= {};
    this.config.history ??= [];
    this.layers = [...base.layers];
    this.baseLayers = [...base.layers];
    this.baseSource = base.source;
    this.lowers = [...base.dirs];
    const lease = await this.engine.cache.lease(this.config.rootfs.diff_ids);
    this.steps.defer('release base lease', () => lease.release());
    const triggers = Array.isArray(this.config.config.OnBuild) ? this.config.config.OnBuild.filter((x) => typeof x === 'string' && x.trim() !== '') : [];
    if (triggers.length > 0 && !this.o.runOnBuild) {
      this.onProgress({ type: 'log', level: 'warn', message: `${image} has ONBUILD triggers; oci-s2i build-image does not run them` });
    } else if (triggers.length > 0) {
      // The triggers run now, in order, and the new image does not inherit them (Docker's rule).
      this.config = setConfigFields(this.config, { OnBuild: undefined });
      const parsed = parseTriggers(triggers, `${image} ONBUILD`);
      let n = 0;
      for (const t of parsed) {
        this.onProgress({ type: 'log', level: 'info', message: `ONBUILD ${++n}/${parsed.length}: ${t.keyword} ${(t.json ? JSON.stringify(t.json) : t.args).slice(0, 60)}`.trim() });
        await this.step(t);
      }
    }
  }

  private pairs(ins: Instruction): Array<[string, string]> {
    const words = splitWords(ins.args, this.cf.escape);
    if (words.length === 0) throw this.fail(ins, `${ins.keyword} needs NAME=VALUE`);
    // Legacy form `ENV NAME value with spaces` (no "=" in the first word).
    if (!words[0]!.includes('=')) {
      const m = /^(\S+)\s+([\s\S]*)$/.exec(ins.args.trim());
      if (!m) throw this.fail(ins, `${ins.keyword} ${words[0]} needs a value: use ${ins.keyword} NAME=VALUE`);
      return [[this.expand(ins, m[1]!), this.expand(ins, m[2]!)]];
    }
    return words.map((w) => {
      const eq = w.indexOf('=');
      if (eq < 0) throw this.fail(ins, `"${w.slice(0, 60)}" is not NAME=VALUE`);
      const name = this.expand(ins, w.slice(0, eq));
      if (name === '') throw this.fail(ins, `"${w.slice(0, 60)}" has an empty name`);
      return [name, this.expand(ins, w.slice(eq + 1))];
    });
  }

  private env(ins: Instruction): void {
    // Every value is expanded with the environment as it was before this instruction (Docker's rule).
    const pairs = this.pairs(ins);
    for (const [n] of pairs) if (n.includes('=') || !argNameRe.test(n)) throw this.fail(ins, `invalid environment variable name "${n.slice(0, 60)}"`);
    const env = mergeEnv(this.config.config?.Env, pairs);
    this.configOnly(ins, { Env: env }, `ENV ${pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`);
  }

  private label(ins: Instruction): void {
    const pairs = this.pairs(ins);
    const labels = mergeLabels(this.config.config?.Labels ?? {}, Object.fromEntries(pairs));
    this.configOnly(ins, { Labels: labels }, `LABEL ${pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`);
  }

  private expose(ins: Instruction): void {
    const ports = { ...(this.config.config?.ExposedPorts ?? {}) } as Record<string, object>;
    const list = this.words(ins);
    for (const p of list) {
      const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(p);
      if (!m || Number(m[1]) > 65535 || (m[2] !== undefined && Number(m[2]) > 65535)) throw this.fail(ins, `invalid port "${p.slice(0, 40)}": use PORT[/tcp|udp|sctp]`);
      const proto = (m[3] ?? 'tcp').toLowerCase();
      const from = Number(m[1]);
      const to = m[2] !== undefined ? Number(m[2]) : from;
      if (to < from || to - from > 65535) throw this.fail(ins, `invalid port range "${p}"`);
      for (let n = from; n <= to; n++) ports[`${n}/${proto}`] = {};
    }
    this.configOnly(ins, { ExposedPorts: ports }, `EXPOSE ${list.join(' ')}`);
  }

  private commandForm(ins: Instruction): string[] {
    if (ins.json) return [...ins.json];
    return [...this.shell, ins.args];
  }

  private workdirOf(): string {
    return this.config.config?.WorkingDir || '/';
  }

  private async workdir(ins: Instruction): Promise<void> {
    const w = this.expand(ins, ins.args.trim());
    if (w === '') throw this.fail(ins, 'WORKDIR needs a path');
    const dir = path.posix.normalize(path.posix.isAbsolute(w) ? w : path.posix.join(this.workdirOf(), w));
    const root = await this.rootfs();
    // Only a WORKDIR that creates its directory changes the filesystem; otherwise it is config only, and the
    // (still empty) overlay stays mounted for the next step.
    if (await isDirInRoot(root.merged, dir)) return this.configOnly(ins, { WorkingDir: dir }, `WORKDIR ${dir}`);
    this.config = setConfigFields(this.config, { WorkingDir: dir });
    try {
      await ensureDirInRoot(root.merged, dir);
    } catch (e) {
      throw new S2IError(e instanceof S2IError ? e.code : 'ERR_WORKDIR', `${this.where(ins)}: ${(e as Error).message}`, { cause: e, step: 'workdir' });
    }
    await this.finishStep(`WORKDIR ${dir}`);
  }

  private async copy(ins: Instruction): Promise<void> {
    const parts = ins.json ?? splitWords(ins.args, this.cf.escape);
    const words = parts.map((w) => this.expand(ins, w));
    if (words.length < 2) throw this.fail(ins, `${ins.keyword} needs at least one source and a destination`);
    const dest = words.pop()!;
    const chmodFlag = ins.flags.find((f) => f.name === 'chmod')?.value;
    const chownFlag = ins.flags.find((f) => f.name === 'chown')?.value;
    let chmod: number | undefined;
    if (chmodFlag !== undefined) {
      const c = this.expand(ins, chmodFlag);
      if (!/^[0-7]{3,4}$/.test(c)) throw this.fail(ins, `--chmod=${c.slice(0, 20)} is not an octal mode such as 755 or 0644`);
      chmod = parseInt(c, 8);
    }
    const root = await this.rootfs();
    let owner: Owner | undefined;
    if (chownFlag !== undefined) owner = await this.chownOwner(ins, this.expand(ins, chownFlag), root.merged);
    const tmpDir = path.join(this.o.buildDir, 'tmp');
    await mkdir(tmpDir, { recursive: true });
    await this.steps.run(ins.keyword.toLowerCase(), () =>
      copyIntoImage({
        contextDir: this.o.contextDir,
        sources: words,
        dest,
        workdir: this.workdirOf(),
        rootfs: root.merged,
        ...(owner ? { owner } : {}),
        ...(chmod !== undefined ? { chmod } : {}),
        extractArchives: ins.keyword === 'ADD',
        tmpDir,
        where: this.where(ins),
        ...(this.o.ignored ? { ignored: this.o.ignored } : {}),
        onWarning: (m) => this.onProgress({ type: 'log', level: 'warn', message: m }),
      }),
    );
    const flags = ins.flags.map((f) => `--${f.name}=${f.value} `).join('');
    await this.finishStep(`${ins.keyword} ${flags}${words.join(' ')} ${dest}`);
  }

  /** --chown=USER[:GROUP]: names from the image's /etc/passwd and /etc/group; a user alone means GID = UID. */
  private async chownOwner(ins: Instruction, spec: string, rootfs: string): Promise<Owner> {
    const passwd = (await readFileInRoot(rootfs, '/etc/passwd'))?.toString('utf8');
    const group = (await readFileInRoot(rootfs, '/etc/group'))?.toString('utf8');
    try {
      const r = resolveUserSpec(spec, passwd, group);
      return spec.includes(':') ? { uid: r.uid, gid: r.gid } : { uid: r.uid, gid: r.uid };
    } catch (e) {
      throw this.fail(ins, `--chown=${spec}: ${(e as Error).message}`, e instanceof S2IError ? e.code : 'ERR_USER_UNKNOWN', 'usage');
    }
  }

  private async runInstruction(ins: Instruction): Promise<void> {
    const args = ins.json ? [...ins.json] : [...this.shell, ins.args];
    const root = await this.rootfs();
    const user = await resolveUser(root.merged, this.config.config?.User).catch((e: unknown) => {
      throw this.fail(ins, `USER ${this.config.config?.User}: ${(e as Error).message}`, 'ERR_USER_UNKNOWN');
    });
    // Build args are in RUN's environment but not in the image; ENV wins over ARG.
    const env = [...(this.config.config?.Env ?? [])];
    const names = new Set(env.map((e) => e.split('=')[0]));
    for (const [k, v] of this.args) if (v !== undefined && !names.has(k)) env.push(`${k}=${v}`);
    if (!env.some((e) => e.startsWith('PATH='))) env.unshift(defaultPath);
    const stepDir = this.mount!.dir;
    const result = await this.steps.run('run', () =>
      runScript({
        runtime: this.o.runtime,
        rootfs: root.merged,
        bundleDir: path.join(stepDir, `bundle-${++this.runNo}`),
        storeRoot: this.engine.root,
        id: `oci-s2i-bi-${this.id}-${this.runNo}`,
        args,
        env,
        cwd: this.workdirOf(),
        user,
        network: this.o.network,
        signal: this.engine.signal,
        onProgress: this.onProgress,
        restricted: namespaceMode() === 'userns-single',
      }),
    );
    if (this.engine.signal.aborted) throw new S2IError('ERR_INTERRUPTED', 'build interrupted');
    if (result.exitCode !== 0 || result.signal) {
      const last = result.tail.filter((l) => l.trim() !== '').slice(-5).join(' | ');
      const how = result.signal ? `was killed by ${result.signal}` : `exited with code ${result.exitCode}`;
      throw new S2IError('ERR_RUN_FAILED', `${this.where(ins)} ${JSON.stringify(args[args.length - 1]!.slice(0, 120))} ${how}${last ? `; last output: ${last}` : ''}`);
    }
    await this.finishStep(ins.json ? `RUN ${JSON.stringify(ins.json)}` : `RUN ${this.shell.join(' ')} ${ins.args}`);
  }

  /** The overlay for the current step (mounted on first use). */
  private async rootfs(): Promise<Rootfs> {
    if (!this.config) throw new Error('unreachable: FROM comes first (checked by the parser)');
    if (this.mount) return this.mount.rootfs;
    const dir = path.join(this.o.buildDir, `step-${this.stepNo}`);
    await mkdir(dir, { recursive: true });
    const rootfs = await mountRootfs(this.steps, dir, this.lowers);
    this.mount = { rootfs, dir };
    return rootfs;
  }

  /** Ends a filesystem step: its upper dir becomes a layer (or an empty_layer entry when nothing changed). */
  private async finishStep(createdBy: string): Promise<void> {
    const m = this.mount!;
    if (this.o.squash) {
      this.config = addHistory(this.config, this.history(createdBy));
      this.squashHistory = this.config.history!.length - 1;
      return;
    }
    await m.rootfs.unmount();
    this.mount = undefined;
    const layer = await this.commitUpper(m.rootfs.upper, m.dir);
    if (!layer) this.config = addHistory(this.config, this.history(createdBy));
    else this.config = appendLayer(this.config, layer.diffID, this.history(createdBy));
    await rm(m.dir, { recursive: true, force: true });
  }

  private async finishSquash(): Promise<void> {
    if (!this.o.squash || !this.mount) return;
    const m = this.mount;
    await m.rootfs.unmount();
    this.mount = undefined;
    const layer = await this.commitUpper(m.rootfs.upper, m.dir);
    if (layer && this.squashHistory >= 0) {
      const history = structuredClone(this.config.history!);
      delete history[this.squashHistory]!.empty_layer;
      this.config = { ...this.config, history, rootfs: { type: 'layers', diff_ids: [...this.config.rootfs.diff_ids, layer.diffID] } };
    }
  }

  /** Writes an upper dir as a layer into the store and the layer cache; undefined when it is empty. */
  private async commitUpper(upper: string, dir: string): Promise<LayerResult | undefined> {
    if ((await readdir(upper)).length === 0) return undefined;
    const file = path.join(dir, 'layer.tar.gz');
    const layer = await this.steps.run('layer', () => writeLayerFile(upper, file, { compression: 'gzip', overlayWhiteouts: true }));
    const desc: Descriptor = { mediaType: layerMediaType(this.o.format, 'gzip'), digest: layer.digest, size: layer.size };
    await this.engine.store.put(desc, createReadStream(file));
    await rm(file, { force: true });
    const lease = await this.engine.cache.lease([layer.diffID]);
    this.steps.defer('release layer lease', () => lease.release());
    const cached = await this.engine.cache.ensure(desc, async () => this.engine.store.open(desc.digest), { expectedDiffID: layer.diffID, signal: this.engine.signal });
    this.lowers.push(cached.dir);
    this.layers.push(desc);
    this.newLayers.push(layer);
    return layer;
  }
}
