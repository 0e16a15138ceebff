// Sigstore signing keys as cosign and containers/image keep them: the private key a PKCS#8 ECDSA P-256 key in the
// encrypted envelope (encrypted.ts), PEM type `ENCRYPTED SIGSTORE PRIVATE KEY` (cosign's older
// `ENCRYPTED COSIGN PRIVATE KEY` read too); the public key PKIX in PEM `PUBLIC KEY`.
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { S2IError } from '../errors.js';
import { decryptWithPassphrase, encryptWithPassphrase } from './encrypted.js';

const PRIVATE_TYPES = ['ENCRYPTED SIGSTORE PRIVATE KEY', 'ENCRYPTED COSIGN PRIVATE KEY'];
const WRITE_TYPE = 'ENCRYPTED SIGSTORE PRIVATE KEY';

/** A private key ready to sign with (never printed: only its public half has a string form). */
export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** The first PEM block of `text`: its type and bytes; undefined when there is none. */
function decodePem(text: string): { type: string; bytes: Buffer } | undefined {
  const m = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/.exec(text);
  if (!m) return undefined;
  // Go's pem allows `Key: value` headers before a blank line; cosign writes none, but skip them as pem.Decode does.
  let body = m[2]!;
  const headerEnd = body.search(/\r?\n\r?\n/);
  if (/^[A-Za-z-]+:/.test(body) && headerEnd >= 0) body = body.slice(headerEnd);
  const b64 = body.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) return undefined;
  return { type: m[1]!, bytes: Buffer.from(b64, 'base64') };
}

function encodePem(type: string, bytes: Buffer): string {
  const lines = bytes.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${type}-----\n${lines.join('\n')}\n-----END ${type}-----\n`;
}

/** A new P-256 key pair: the encrypted private key file's text and the public key's PEM. */
export function generateKeyPair(passphrase: Buffer): { privatePem: string; publicPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'der' });
  return {
    privatePem: encodePem(WRITE_TYPE, encryptWithPassphrase(pkcs8, passphrase)),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** Reads an encrypted private key file's text; `what` names it in messages (the passphrase never is). */
export function loadPrivateKey(text: string, passphrase: Buffer, what: string): SigningKey {
  const block = decodePem(text);
  if (!block || !PRIVATE_TYPES.includes(block.type)) {
    throw new S2IError('ERR_SIGN_KEY', `${what} is not an encrypted sigstore private key (no ${WRITE_TYPE} PEM block); give a key written by \`oci-s2i generate-sigstore-key\`, cosign or skopeo`);
  }
  const der = decryptWithPassphrase(block.bytes, passphrase, what);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } catch {
    throw new S2IError('ERR_SIGN_KEY', `${what} decrypts to something that is not a PKCS#8 private key; give a key written by \`oci-s2i generate-sigstore-key\`, cosign or skopeo`);
  }
  if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new S2IError('ERR_SIGN_KEY', `${what} holds a ${privateKey.asymmetricKeyType ?? 'unknown'} key; only ECDSA P-256 keys are supported`);
  }
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

/** Reads public keys from PEM text (every `PUBLIC KEY` block, as containers/image's keyPath/keyData do). */
export function loadPublicKeys(text: string, what: string): KeyObject[] {
  const keys: KeyObject[] = [];
  const re = /-----BEGIN PUBLIC KEY-----[\s\S]*?-----END PUBLIC KEY-----/g;
  for (const m of text.matchAll(re)) {
    try {
      keys.push(createPublicKey({ key: m[0], format: 'pem' }));
    } catch {
      throw new S2IError('ERR_POLICY_INVALID', `${what} holds a PUBLIC KEY block that cannot be read; give the .pub file written with the private key`);
    }
  }
  if (keys.length === 0) throw new S2IError('ERR_POLICY_INVALID', `${what} holds no PEM PUBLIC KEY block; give the .pub file written with the private key`);
  return keys;
}
