// The environment side of extra-ca.ts, with no imports: the CLI launcher (cli/launch.ts) and the namespace
// re-exec use it before anything else is loaded.

export const RELOCATED_CA_ENV = 'OCI_S2I_EXTRA_CA_CERTS';

/** `env` with NODE_EXTRA_CA_CERTS moved to OCI_S2I_EXTRA_CA_CERTS, for a Node process of ours (extra-ca.ts). */
export function relocateExtraCa(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const file = env.NODE_EXTRA_CA_CERTS;
  if (!file) return env;
  const out: NodeJS.ProcessEnv = { ...env, [RELOCATED_CA_ENV]: file };
  delete out.NODE_EXTRA_CA_CERTS;
  return out;
}
