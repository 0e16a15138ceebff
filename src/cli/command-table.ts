// The one list of CLI commands. main.ts dispatches from it, the top-level help, `completion` and the generated
// reference (spec/cli.md) list it, and the launcher (launch.ts) takes the namespace commands from it; the shell
// launcher bin/oci-s2i cannot import it, so test/cli/command-table.test.ts holds its `case` list to this one.
//
// launch.ts loads this module before anything else, for every CLI call: it must stay free of runtime imports.
// A command module loads only through its `load()` (a lazy import()), so a call imports only the command it
// runs, and a command that re-executes itself in the namespace imports nothing of it before the re-exec.
import type { Command } from './command.js';

export interface CommandEntry {
  /** What the user types; the command module's `name` is the same (tested). */
  name: string;
  /**
   * Runs inside the private mount namespace (and, for a non-root caller, a user namespace with the subordinate
   * ID range): main.ts re-executes into it before loading the command, and root calls go straight under
   * `unshare` from the launcher (launch.ts) or from bin/oci-s2i.
   */
  namespace: boolean;
  load(): Promise<Command>;
}

/** In the order of the help text, completion and spec/cli.md. */
export const commandEntries: CommandEntry[] = [
  { name: 'build', namespace: true, load: async () => (await import('./commands/build.js')).buildCommand },
  { name: 'build-image', namespace: true, load: async () => (await import('./commands/build-image.js')).buildImageCommand },
  { name: 'run', namespace: true, load: async () => (await import('./commands/run.js')).runCommand },
  { name: 'pull', namespace: true, load: async () => (await import('./commands/pull.js')).pullCommand },
  { name: 'images', namespace: false, load: async () => (await import('./commands/images.js')).imagesCommand },
  { name: 'tag', namespace: false, load: async () => (await import('./commands/tag.js')).tagCommand },
  { name: 'rmi', namespace: false, load: async () => (await import('./commands/rmi.js')).rmiCommand },
  { name: 'push', namespace: false, load: async () => (await import('./commands/push.js')).pushCommand },
  { name: 'copy', namespace: false, load: async () => (await import('./commands/copy.js')).copyCommand },
  { name: 'sync', namespace: false, load: async () => (await import('./commands/sync.js')).syncCommand },
  { name: 'inspect', namespace: false, load: async () => (await import('./commands/inspect.js')).inspectCommand },
  { name: 'cache', namespace: true, load: async () => (await import('./commands/cache.js')).cacheCommand },
  { name: 'login', namespace: false, load: async () => (await import('./commands/login.js')).loginCommand },
  { name: 'logout', namespace: false, load: async () => (await import('./commands/logout.js')).logoutCommand },
  { name: 'usage', namespace: true, load: async () => (await import('./commands/usage.js')).usageCommand },
  { name: 'generate', namespace: false, load: async () => (await import('./commands/generate.js')).generateCommand },
  { name: 'rebuild', namespace: true, load: async () => (await import('./commands/rebuild.js')).rebuildCommand },
  { name: 'create', namespace: false, load: async () => (await import('./commands/create.js')).createCommand },
  { name: 'generate-sigstore-key', namespace: false, load: async () => (await import('./commands/generate-sigstore-key.js')).generateSigstoreKeyCommand },
  { name: 'layer', namespace: false, load: async () => (await import('./commands/layer.js')).layerCommand },
  { name: 'completion', namespace: false, load: async () => (await import('./commands/completion.js')).completionCommand },
  { name: 'version', namespace: false, load: async () => (await import('./commands/version.js')).versionCommand },
];

/** The commands that run inside the private (user) namespace. */
export const namespaceCommands: ReadonlySet<string> = new Set(commandEntries.filter((e) => e.namespace).map((e) => e.name));

/**
 * Whether this call of a namespace command runs without the namespace: `build --isolation in-image` runs
 * assemble in the container it is in, with no namespace, mount or runtime (pipeline/in-image.ts). bin/oci-s2i's
 * `case` on the arguments is held to this by test/cli/command-table.test.ts.
 */
export function runsWithoutNamespace(argv: readonly string[]): boolean {
  const [name, ...rest] = argv;
  if (name !== 'build') return false;
  return rest.some((a, i) => a === '--isolation=in-image' || (a === '--isolation' && rest[i + 1] === 'in-image'));
}

export function findCommand(name: string): CommandEntry | undefined {
  return commandEntries.find((e) => e.name === name);
}

/** Every command definition, in table order (for help, completion and the generated reference). */
export async function loadCommands(): Promise<Command[]> {
  return await Promise.all(commandEntries.map((e) => e.load()));
}
