// `node dist/bench/tools/pull-unpack.js --root DIR REF`: what `oci-s2i build` does before it runs anything —
// resolve, download (verified), and unpack every layer into the layer cache — as a process of its own, so the
// pull benchmark measures it like the skopeo + umoci commands it is compared with.
import { parseArgs } from 'node:util';
import { openEngine } from '../../src/build/context.js';
import { pullImage } from '../../src/build/pull.js';
import { parseReference } from '../../src/oci/reference.js';

const { values, positionals } = parseArgs({ options: { root: { type: 'string' } }, allowPositionals: true });
if (!values.root || positionals.length !== 1) {
  process.stderr.write('usage: pull-unpack.js --root DIR REF\n');
  process.exit(64);
}
const engine = await openEngine({ root: values.root });
try {
  const image = await pullImage(engine, parseReference(positionals[0]!), { policy: 'always' });
  process.stdout.write(JSON.stringify({ layers: image.layers.length, digest: image.manifestDescriptor.digest }) + '\n');
} finally {
  await engine.close();
}
