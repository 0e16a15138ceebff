// NODE_EXTRA_CA_CERTS, read only when a TLS connection is made. Node reads and parses that file at every start,
// before any of our code runs: with the 220 KB system bundle some hosts point it at, that is ~70 ms of each
// start here (`node -e 0`: 0.14 s with it, 0.07 s without). The CLI launchers move it to
// OCI_S2I_EXTRA_CA_CERTS for the Node process they start (extra-ca-env.ts), and the few places that open TLS
// connections (registry client, script downloads, callbacks) add those CAs to Node's roots themselves, on
// their first TLS connection (`lazyTlsConnector`). Same trust as Node would have given; paid only by HTTPS.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { SecureContext } from 'node:tls';
import { buildConnector } from './http-client.js';
import { RELOCATED_CA_ENV } from './extra-ca-env.js';

/** The CAs moved out of NODE_EXTRA_CA_CERTS (PEM text), when a launcher moved any and the file is readable. */
export function relocatedCaPem(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const file = env[RELOCATED_CA_ENV];
  if (!file) return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    // What Node itself does with an unreadable NODE_EXTRA_CA_CERTS: warn and go on with its own roots.
    process.emitWarning(`Ignoring extra certs from \`${file}\`, load failed: ${(e as Error).message}`);
    return undefined;
  }
}

let context: SecureContext | null | undefined;

/** Node's roots plus the relocated CAs (and NODE_EXTRA_CA_CERTS if it is set too); undefined when none were relocated. */
export function relocatedSecureContext(): SecureContext | undefined {
  if (context !== undefined) return context ?? undefined;
  const pem = relocatedCaPem();
  if (pem === undefined) {
    context = null;
    return undefined;
  }
  const tls = createRequire(import.meta.url)('node:tls') as typeof import('node:tls');
  const ca = [...tls.rootCertificates, pem];
  if (process.env.NODE_EXTRA_CA_CERTS) {
    try {
      ca.push(readFileSync(process.env.NODE_EXTRA_CA_CERTS, 'utf8'));
    } catch {
      /* Node warned at start-up */
    }
  }
  context = tls.createSecureContext({ ca });
  return context;
}

/**
 * An undici `connect` function for an Agent whose TLS should trust the relocated CAs: plain connections as
 * usual, TLS ones with `relocatedSecureContext()`, built on the first TLS connection. Undefined when nothing was
 * relocated (Node's own defaults already hold NODE_EXTRA_CA_CERTS): pass `opts` as they are then.
 */
export function lazyTlsConnector(opts: buildConnector.BuildOptions = {}): buildConnector.connector | undefined {
  if (!process.env[RELOCATED_CA_ENV]) return undefined;
  const plain = buildConnector(opts);
  let secure: buildConnector.connector | undefined;
  return (o, cb) => {
    if (o.protocol !== 'https:') return plain(o, cb);
    const ctx = relocatedSecureContext();
    secure ??= ctx ? buildConnector({ ...opts, secureContext: ctx }) : plain;
    return secure(o, cb);
  };
}
