// `oci-s2i generate-sigstore-key --output-prefix P`: a new ECDSA P-256 key pair for sigstore signatures, as
// skopeo's command of that name writes it: P.private (the encrypted private key, 0600) and P.pub (the public key
// a policy's keyPath names). Existing files are never overwritten; the passphrase comes from --passphrase-file or
// the terminal (asked twice) and is never printed.
import { open, unlink } from 'node:fs/promises';
import { S2IError } from '../../errors.js';
import { generateKeyPair } from '../../sign/key.js';
import type { Command } from '../command.js';
import { str } from '../command.js';
import { canPrompt, prompt } from '../prompt.js';
import { readPassphrase } from '../sign-flags.js';

/** Creates `file` with `text`, refusing one that exists (O_EXCL). */
async function writeNew(file: string, text: string, mode: number): Promise<void> {
  let fh;
  try {
    fh = await open(file, 'wx', mode);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new S2IError('ERR_OUTPUT_FILE', `${file} already exists: refusing to overwrite a key; choose another --output-prefix or remove it`);
    throw new S2IError('ERR_OUTPUT_FILE', `cannot create ${file} (${code ?? 'error'}); choose a writable --output-prefix`);
  }
  try {
    await fh.writeFile(text);
    await fh.chmod(mode);
  } finally {
    await fh.close();
  }
}

export const generateSigstoreKeyCommand: Command = {
  name: 'generate-sigstore-key',
  summary: 'Write a new sigstore signing key pair: PREFIX.private (encrypted with a passphrase, cosign format) and PREFIX.pub, for --sign-by-sigstore-private-key and a policy\'s sigstoreSigned keyPath.',
  args: [],
  params: [
    { name: 'output-prefix', type: 'string', value: 'PREFIX', description: 'write PREFIX.private and PREFIX.pub (never overwritten)' },
    { name: 'passphrase-file', type: 'string', value: 'FILE', description: 'the passphrase to encrypt the private key with: the first line of FILE (default: asked on the terminal, twice)' },
  ],
  async run(ctx) {
    const prefix = str(ctx.values['output-prefix']);
    if (prefix === undefined || prefix === '') throw new S2IError('ERR_USAGE', 'generate-sigstore-key needs --output-prefix PREFIX');
    if (ctx.positionals.length) throw new S2IError('ERR_USAGE', 'generate-sigstore-key takes no arguments; give --output-prefix PREFIX');
    const passFile = str(ctx.values['passphrase-file']);
    let passphrase: Buffer;
    if (passFile === undefined && canPrompt()) {
      passphrase = Buffer.from(await prompt('Passphrase for the new key: ', true, ctx.stderr), 'utf8');
      const again = Buffer.from(await prompt('Passphrase again: ', true, ctx.stderr), 'utf8');
      if (!passphrase.equals(again)) throw new S2IError('ERR_USAGE', 'the passphrases differ; run generate-sigstore-key again');
    } else {
      passphrase = await readPassphrase(passFile, 'passphrase-file', '', ctx.stderr);
    }
    const { privatePem, publicPem } = generateKeyPair(passphrase);
    const privateFile = `${prefix}.private`;
    const publicFile = `${prefix}.pub`;
    await writeNew(privateFile, privatePem, 0o600);
    try {
      await writeNew(publicFile, publicPem, 0o644);
    } catch (e) {
      // Nothing half-written: the private key without its public half goes too.
      await unlink(privateFile).catch(() => {});
      throw e;
    }
    if (ctx.global.json) ctx.stdout.write(JSON.stringify({ privateKey: privateFile, publicKey: publicFile }) + '\n');
    else ctx.stdout.write(`Key written to ${privateFile} and ${publicFile}\n`);
    return 0;
  },
};
