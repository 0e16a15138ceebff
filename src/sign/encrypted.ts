// The encrypted envelope cosign and containers/image keep a private key in (go-securesystemslib `encrypted`):
// JSON {kdf: scrypt (N, r, p, 32-byte salt), cipher: nacl/secretbox (24-byte nonce), ciphertext}, byte strings in
// standard base64 as Go's encoding/json writes []byte. The key is scrypt(passphrase, salt, N, r, p, 32) and the
// ciphertext is secretbox (XSalsa20-Poly1305: tag then data). Written with N=32768 (securesystemslib's "legacy"
// strength, the only one skopeo 1.9 reads); read with any of the three strengths securesystemslib accepts.
import { randomBytes, scryptSync } from 'node:crypto';
import nacl from 'tweetnacl';
import { S2IError } from '../errors.js';

const SALT_BYTES = 32;
const KEY_BYTES = 32;
const NONCE_BYTES = 24;
/** securesystemslib's legacy, standard and OWASP parameters; nothing else is read (a file cannot make us spend more). */
const ACCEPTED_N = [32768, 65536, 131072];
const WRITE_N = 32768;

interface Envelope {
  kdf: { name: string; params: { N: number; r: number; p: number }; salt: string };
  cipher: { name: string; nonce: string };
  ciphertext: string;
}

function deriveKey(passphrase: Buffer, salt: Buffer, N: number, r: number, p: number): Buffer {
  // 128 * N * r bytes of memory: 32 MiB at N=32768, 128 MiB at the largest accepted N.
  return scryptSync(passphrase, salt, KEY_BYTES, { N, r, p, maxmem: 256 * 1024 * 1024 });
}

/** Seals `plaintext` under `passphrase`; the JSON bytes of the envelope. */
export function encryptWithPassphrase(plaintext: Buffer, passphrase: Buffer): Buffer {
  const salt = randomBytes(SALT_BYTES);
  const nonce = randomBytes(NONCE_BYTES);
  const key = deriveKey(passphrase, salt, WRITE_N, 8, 1);
  const sealed = nacl.secretbox(new Uint8Array(plaintext), new Uint8Array(nonce), new Uint8Array(key));
  const envelope: Envelope = {
    kdf: { name: 'scrypt', params: { N: WRITE_N, r: 8, p: 1 }, salt: salt.toString('base64') },
    cipher: { name: 'nacl/secretbox', nonce: nonce.toString('base64') },
    ciphertext: Buffer.from(sealed).toString('base64'),
  };
  return Buffer.from(JSON.stringify(envelope));
}

/** Opens an envelope; `what` names the file in messages. A wrong passphrase and a damaged envelope say so apart. */
export function decryptWithPassphrase(data: Buffer, passphrase: Buffer, what: string): Buffer {
  const bad = (why: string): S2IError => new S2IError('ERR_SIGN_KEY', `${what} is not a usable encrypted private key (${why}); give a key written by \`oci-s2i generate-sigstore-key\`, cosign or skopeo`);
  let env: Envelope;
  try {
    env = JSON.parse(data.toString('utf8')) as Envelope;
  } catch {
    throw bad('its contents are not JSON');
  }
  if (typeof env !== 'object' || env === null || typeof env.kdf !== 'object' || typeof env.cipher !== 'object' || env.kdf === null || env.cipher === null) throw bad('no kdf or cipher');
  if (env.kdf.name !== 'scrypt') throw bad(`key derivation ${JSON.stringify(env.kdf.name)} is not scrypt`);
  if (env.cipher.name !== 'nacl/secretbox') throw bad(`cipher ${JSON.stringify(env.cipher.name)} is not nacl/secretbox`);
  const params = env.kdf.params;
  if (typeof params !== 'object' || params === null || !ACCEPTED_N.includes(params.N) || params.r !== 8 || params.p !== 1) throw bad('unsupported scrypt parameters');
  const salt = base64Field(env.kdf.salt);
  const nonce = base64Field(env.cipher.nonce);
  const ciphertext = base64Field(env.ciphertext);
  if (!salt || !nonce || nonce.length !== NONCE_BYTES || !ciphertext || ciphertext.length < nacl.secretbox.overheadLength) throw bad('salt, nonce or ciphertext missing or of the wrong size');
  const key = deriveKey(passphrase, salt, params.N, params.r, params.p);
  const opened = nacl.secretbox.open(new Uint8Array(ciphertext), new Uint8Array(nonce), new Uint8Array(key));
  if (!opened) throw new S2IError('ERR_SIGN_PASSPHRASE', `cannot decrypt ${what}: wrong passphrase (or the file was altered); give the passphrase it was written with`);
  return Buffer.from(opened);
}

function base64Field(v: unknown): Buffer | undefined {
  if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v)) return undefined;
  return Buffer.from(v, 'base64');
}
