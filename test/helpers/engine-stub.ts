// A stand-in for the oci-s2i engine image, to run the integrations' steps before (and without) the real engine:
// a busybox image whose /opt/oci-s2i/oci-s2i prints each argument as ARG<...> on stderr and writes what the
// engine writes: `build` the --digestfile (with a newline, as engines before issue 13 did, which an integration
// must not pass on to a result), `inspect --json` the fields the Shipwright strategy reads (with a label mentioning
// "size", to show the parsing takes the config's), `login` nothing.
import { uniqueImageLabels } from './pod.js';
import type { Repository } from '../../src/registry/client.js';
import { pushBusyboxBuilder } from '../../src/demo/busybox-image.js';

export const stubDigest = `sha256:${'ab'.repeat(32)}`;
/** What the stub's inspect says: layers 234 + config 1000. */
export const stubImageSize = 1234;

const script = `#!/bin/sh
for a in "$@"; do printf 'ARG<%s>\\n' "$a" >&2; done
case $1 in
  build)
    while [ $# -gt 0 ]; do
      if [ "$1" = --digestfile ]; then printf '%s\\n' '${stubDigest}' > "$2"; fi
      shift
    done ;;
  inspect)
    printf '%s\\n' '{"name":"x","digest":"${stubDigest}","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:c","size":1000},"layers":[{"size":234}],"totalSize":234,"labels":{"note":"\\"size\\":7"}}' ;;
esac
`;

/** Pushes the stand-in engine image (USER 65532, as the engine image's) and returns its reference. */
export async function pushStubEngine(repo: Repository, host: string, name: string): Promise<string> {
  await pushBusyboxBuilder(repo, 'v1', {
    user: '65532',
    labels: uniqueImageLabels(),
    extraLayer: [{ name: 'opt/oci-s2i/', type: 'directory', mode: 0o755 }, { name: 'opt/oci-s2i/oci-s2i', content: script, mode: 0o755 }],
  });
  return `${host}/${name}:v1`;
}

/** The arguments of every stub call in a step's stderr, in order. */
export function stubArgs(stderr: string | undefined): string[] {
  return [...(stderr ?? '').matchAll(/^ARG<([^>]*)>$/gm)].map((m) => m[1]!);
}
