// Flags of signing and of the signature policy. Signing (`build`, `copy`, `push`-like commands): the key file
// (--sign-by-sigstore-private-key, as podman and skopeo name it) and its passphrase (--sign-passphrase-file, its
// first line as skopeo reads it, else asked on the terminal); the key is decrypted before any work starts, so a
// wrong passphrase costs nothing. The passphrase is never printed. Policy (every command that runs an image's
// code): --signature-policy and --registries.d, as podman and skopeo name them (sign/policy-files.ts).
import type { Param, CommandContext } from './command.js';
import { str, nonEmptyPath } from './command.js';
import { S2IError } from '../errors.js';
import { loadPrivateKey, type SigningKey } from '../sign/key.js';
import type { PolicyFileOptions } from '../sign/policy-files.js';
import { readInputFile } from '../sys/input-file.js';
import { canPrompt, prompt } from './prompt.js';

type Values = CommandContext['values'];

export const signParams: Param[] = [
  { name: 'sign-by-sigstore-private-key', type: 'string', value: 'FILE', description: 'sign the pushed image with this sigstore private key (cosign format, as `generate-sigstore-key` writes it); the signature is stored as cosign and containers/image use-sigstore-attachments read it (tag sha256-<hex>.sig)' },
  { name: 'sign-passphrase-file', type: 'string', value: 'FILE', description: 'the private key\'s passphrase: the first line of FILE (default: asked on the terminal)' },
];

export const policyParams: Param[] = [
  { name: 'signature-policy', type: 'string', value: 'FILE', description: 'containers-policy.json(5) every image is checked against before anything of it runs (default: ~/.config/containers/policy.json, else /etc/containers/policy.json; none: no check)' },
  { name: 'registries.d', type: 'string', value: 'DIR', description: 'registries.d directory saying where signatures are (use-sigstore-attachments) (default: ~/.config/containers/registries.d, else /etc/containers/registries.d)', check: nonEmptyPath('registries.d') },
];

/** The policy files the flags name (the defaults when none). */
export function policyOptions(v: Values): PolicyFileOptions {
  const policyFile = str(v['signature-policy']);
  const registriesDir = str(v['registries.d']);
  return { ...(policyFile !== undefined ? { policyFile } : {}), ...(registriesDir !== undefined ? { registriesDir } : {}) };
}

/** A passphrase from the first line of `file` (skopeo's ReadPassphraseFile), or asked on the terminal. */
export async function readPassphrase(file: string | undefined, flag: string, question: string, stderr: NodeJS.WriteStream): Promise<Buffer> {
  if (file !== undefined) {
    let bytes: Buffer;
    try {
      bytes = await readInputFile(file, { what: `--${flag}`, code: 'ERR_USAGE' });
    } catch (e) {
      if (e instanceof S2IError) throw e;
      throw new S2IError('ERR_USAGE', `--${flag} ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'}); give a file holding the passphrase`);
    }
    const nl = bytes.indexOf(0x0a);
    return nl < 0 ? bytes : bytes.subarray(0, nl);
  }
  if (!canPrompt()) throw new S2IError('ERR_USAGE', `no passphrase: give --${flag} FILE (standard input is not a terminal to ask on)`);
  return Buffer.from(await prompt(question, true, stderr), 'utf8');
}

/** The signing key the flags name, decrypted; undefined when no key was given. */
export async function signingKeyOf(v: Values, stderr: NodeJS.WriteStream): Promise<SigningKey | undefined> {
  const file = str(v['sign-by-sigstore-private-key']);
  const passFile = str(v['sign-passphrase-file']);
  if (file === undefined) {
    if (passFile !== undefined) throw new S2IError('ERR_USAGE', '--sign-passphrase-file is the passphrase of --sign-by-sigstore-private-key: give the key too');
    return undefined;
  }
  let text: string;
  try {
    text = (await readInputFile(file, { what: '--sign-by-sigstore-private-key', code: 'ERR_SIGN_KEY' })).toString('utf8');
  } catch (e) {
    if (e instanceof S2IError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new S2IError('ERR_SIGN_KEY', `--sign-by-sigstore-private-key ${file} ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? 'error'})`}; give the private key file (oci-s2i generate-sigstore-key writes one)`);
  }
  const passphrase = await readPassphrase(passFile, 'sign-passphrase-file', `Passphrase for ${file}: `, stderr);
  return loadPrivateKey(text, passphrase, `--sign-by-sigstore-private-key ${file}`);
}
