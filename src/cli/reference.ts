// Generates spec/cli.md (the CLI reference) from the command definitions, so the spec cannot drift from the
// code: test/cli/reference.test.ts fails when spec/cli.md differs from this output.
import { ExitCode } from '../errors.js';
import { globalParams, type Command, type Param } from './command.js';
import { namespaceCommands } from './command-table.js';

const exitMeaning: Record<keyof typeof ExitCode, string> = {
  generic: 'any other failure (also: invalid reference, registry refused a push)',
  inspect: 'inspecting an image failed (same code as generic, kept from s2i)',
  pull: 'pulling an image failed: unknown image or tag, registry unreachable, unauthorized, corrupt blob, a registry registries.conf blocks, a short name it does not resolve, an image the signature policy refuses (nothing of it runs)',
  saveArtifacts: 'save-artifacts failed (incremental builds fall back to a clean build first)',
  assemble: 'the assemble script exited non-zero',
  workdir: 'a path inside the image could not be used (destination, working directory)',
  commit: 'writing the new layer or image failed',
  tarTimeout: 'a tar stream timed out',
  download: 'a script could not be downloaded',
  scriptsInsideImage: 'scripts inside the image could not be used',
  install: 'installing scripts into the image failed',
  scriptMissing: 'a required S2I script (assemble, run) was not found; the message lists where it looked',
  urlHandler: 'unsupported scripts URL scheme',
  container: 'the sandbox could not run: no OCI runtime, overlay or namespace failure',
  sourcePath: 'the source path does not exist or is not a directory',
  userNotAllowed: 'the user is not allowed by --allowed-uids',
  emptyRepo: 'the git repository is empty',
  usage: 'bad command line: unknown flag, bad flag value, wrong number of arguments, conflicting flags, an --authfile (or REGISTRY_AUTH_FILE) that does not exist, --creds USER with no terminal to ask for the password; a registries.conf that cannot be used (syntax, unknown key, conflicting prefixes); a signature policy or registries.d that cannot be used (syntax, unknown requirement, signedBy, a missing keyPath); a signing key that cannot be read or its wrong passphrase',
  interrupted: 'interrupted (Ctrl-C); the sandbox is killed and temp dirs and mounts are removed first',
};

function flagCell(p: Param): string {
  const short = p.short ? `-${p.short}, ` : '';
  const value = p.type === 'string' ? ` ${p.value ?? 'VALUE'}` : '';
  return `\`${short}--${p.name}${value}\``.replace(/\|/g, '\\|');
}

function paramRows(params: Param[]): string[] {
  return params.map((p) => {
    const def = p.default !== undefined ? String(p.default) : '';
    const desc = `${p.description}${p.multiple ? ' (repeatable)' : ''}`.replace(/\|/g, '\\|');
    return `| ${flagCell(p)} | ${desc} | ${def ? `\`${def}\`` : ''} |`;
  });
}

/** The environment variables oci-s2i reads, for the reference. */
const environment: ReadonlyArray<readonly [string, string]> = [
  ['XDG_CACHE_HOME', 'the cache and store live in `$XDG_CACHE_HOME/oci-s2i` (else `~/.cache/oci-s2i`) unless `--root` says otherwise'],
  ['REGISTRY_AUTH_FILE', 'the registry credentials file when `--authfile` is not given: the only one read, and it must exist (exit 64); `login` writes it. Unset, the first of these that knows the registry is used (containers-auth.json(5) order): `$XDG_RUNTIME_DIR/containers/auth.json` (`/run/containers/$UID/auth.json` when `XDG_RUNTIME_DIR` is unset), `$XDG_CONFIG_HOME/containers/auth.json` (`~/.config/…`), `$DOCKER_CONFIG/config.json` (else `~/.docker/config.json`), `~/.dockercfg`; `login` writes `$DOCKER_CONFIG/config.json` when that is set, else the first'],
  ['CONTAINERS_REGISTRIES_CONF', 'read only this containers-registries.conf(5) file (mirrors, location rewrites, blocked and insecure registries, short names: spec/registries-conf.md) instead of `$XDG_CONFIG_HOME/containers/registries.conf` (else `~/.config/…`) or `/etc/containers/registries.conf` and the `registries.conf.d` drop-ins'],
  ['OCI_S2I_CERTS_D', 'colon-separated roots of `HOST[:PORT]` certificate directories (default: `~/.config/containers/certs.d`, `/etc/containers/certs.d`, `/etc/docker/certs.d`)'],
  ['NODE_EXTRA_CA_CERTS', 'extra CA certificates for registries, read when the first TLS connection is made (the launcher passes it on as `OCI_S2I_EXTRA_CA_CERTS`)'],
  ['SSL_CERT_FILE', 'the system CA bundle, instead of the first of `/etc/ssl/certs/ca-certificates.crt`, `/etc/pki/tls/certs/ca-bundle.crt`, … (as skopeo reads it); its CAs are added to Node\'s, read when the first TLS connection is made'],
  ['SSL_CERT_DIR', 'colon-separated directories whose files hold system CA certificates, instead of `/etc/ssl/certs` and `/etc/pki/tls/certs`'],
  ['HTTPS_PROXY', 'proxy for `https://` registries and downloads (`http://[USER:PASSWORD@]HOST:PORT`, HTTP CONNECT); `https_proxy` too, the upper-case name first'],
  ['HTTP_PROXY', 'proxy for `http://` registries and downloads (requests sent to it with the whole URL); `http_proxy` too'],
  ['NO_PROXY', 'comma-separated hosts reached without the proxy: `name` (it and its subdomains), `.name` or `*.name` (subdomains only), an IP address, a CIDR range, any of them with `:PORT`, or `*` (no proxy at all); `localhost` and loopback addresses never use a proxy (as in Go); `no_proxy` too'],
  ['SOURCE_DATE_EPOCH', 'build timestamp (unix seconds) when `--timestamp` is not given; see `--reproducible`'],
  ['UV_THREADPOOL_SIZE', "threads for file work and parallel gzip; when unset, the launcher sets it to the number of cores if there are more than libuv's default 4"],
  ['OCI_S2I_NODE', 'the `node` the `oci-s2i` launcher runs (default: `node` on PATH)'],
  ['OCI_S2I_NO_BUNDLE', '`1`: run the tsc output instead of the one-file bundle (development)'],
];

/** What the registry commands read of the containers configuration a machine already has (issue: air-gapped networks). */
const airGapped: readonly string[] = [
  '## Air-gapped',
  '',
  'Every command that reads or writes registry images honours, as podman and skopeo on the same machine do:',
  '',
  '- containers-registries.conf(5) v2 (`/etc/containers/registries.conf`, `registries.conf.d/*.conf`, the user\'s file, or only `CONTAINERS_REGISTRIES_CONF`): mirrors tried in order, then the rewritten `location`; `blocked` never contacted; `insecure`; short names by `[aliases]`, `unqualified-search-registries`, `short-name-mode`. Pushes go to the rewritten location, never to a mirror. The endpoint that served a pull is on stderr and in `--json` (`pulledFrom`). A file that cannot be used: exit 64, naming the file and line. Rules and limits: spec/registries-conf.md.',
  '- the system trust store (`SSL_CERT_FILE`, `SSL_CERT_DIR` as Go reads them), certs.d, `NODE_EXTRA_CA_CERTS`; `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` (Go\'s rules; loopback never proxied).',
  '- credentials in containers-auth.json(5) order (`/run/containers/$UID/auth.json` when `XDG_RUNTIME_DIR` is unset), `--creds USER[:PASS]`; `build` checks the destination accepts a push before assemble runs.',
  '- `oci-s2i sync` carries images (all platforms, signatures and referrers along, digests kept) into an OCI layout or archive and from it into the registry inside the gap; resumable. Formats and conventions: spec/sync.md.',
];

/** `namespace`: the commands marked ¹ (those of the command table unless given). */
export function cliReference(commands: Command[], namespace: ReadonlySet<string> = namespaceCommands): string {
  const out: string[] = [
    '# oci-s2i CLI reference',
    '',
    '<!-- Generated from src/cli/commands/*.ts by `node dist/src/cli/gen-reference.js > spec/cli.md`; test/cli/reference.test.ts keeps it in sync. -->',
    '',
    'Results go to stdout, progress and logs to stderr. Errors are one line (`oci-s2i: …`) saying what went wrong and',
    'what to do, with a stable exit code (below); `--debug` adds the stack trace.',
    '',
    '## Commands',
    '',
    '| command | summary |',
    '| --- | --- |',
    ...commands.map((c) => `| \`${[c.name, ...c.args].join(' ')}\`${namespace.has(c.name) ? ' ¹' : ''} | ${c.summary.replace(/\|/g, '\\|')} |`),
    '',
    '¹ runs inside a private mount namespace (and, for non-root users, a user namespace with the subordinate ID range).',
    '',
  ];
  for (const c of commands) {
    out.push(`## \`oci-s2i ${c.name}\``, '', `Usage: \`${['oci-s2i', c.name, '[flags]', ...c.args].join(' ')}\``, '', c.summary, '');
    if (c.params.length > 0) out.push('| flag | meaning | default |', '| --- | --- | --- |', ...paramRows(c.params), '');
  }
  out.push('## Global flags (every command)', '', '| flag | meaning | default |', '| --- | --- | --- |', ...paramRows(globalParams), '');
  out.push('## Environment', '', '| variable | meaning |', '| --- | --- |', ...environment.map(([k, v]) => `| \`${k}\` | ${v} |`), '');
  out.push(...airGapped, '');
  out.push('## Exit codes', '', 'Kept from `s2i` where it defines them.', '', '| code | meaning |', '| --- | --- |');
  const byCode = new Map<number, string[]>();
  for (const [k, v] of Object.entries(ExitCode) as Array<[keyof typeof ExitCode, number]>) {
    byCode.set(v, [...(byCode.get(v) ?? []), exitMeaning[k]]);
  }
  out.push('| 0 | success |');
  for (const [code, meanings] of [...byCode.entries()].sort((a, b) => a[0] - b[0])) out.push(`| ${code} | ${meanings.join('; ')} |`);
  out.push('');
  return out.join('\n');
}
