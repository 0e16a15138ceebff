#!/usr/bin/python3
# An independent implementation of the sigstore key and signature formats, for the tests (Debian's skopeo 1.9.3
# has sigstore disabled: "Debian-local change: sigstore disabled"). Written from go-securesystemslib `encrypted`
# and containers/image signature/sigstore, with libsodium (PyNaCl), hashlib's scrypt and pyca/cryptography;
# nothing of oci-s2i is used.
#   decrypt-key PRIV PASSFILE PUB      the private key decrypts and matches PUB
#   make-key PRIV PUB PASSFILE         writes a key pair in the cosign format
#   sign PRIV PASSFILE IDENTITY DIGEST LAYOUT
#                                      writes an OCI layout (tag "sig") holding the signature manifest
#   verify LAYOUT PUB DIGEST IDENTITY  the layout's signature manifest holds a signature of DIGEST naming IDENTITY
import base64, hashlib, json, os, sys
import nacl.secret
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

def passphrase(f):
    return open(f, 'rb').read().split(b'\n')[0]

def pem_body(text, kind):
    begin, end = f'-----BEGIN {kind}-----', f'-----END {kind}-----'
    if begin not in text:
        sys.exit(f'no {kind} block')
    return base64.b64decode(''.join(text.split(begin, 1)[1].split(end, 1)[0].split()))

def load_private(priv, passfile):
    env = json.loads(pem_body(open(priv).read(), 'ENCRYPTED SIGSTORE PRIVATE KEY'))
    assert env['kdf']['name'] == 'scrypt' and env['cipher']['name'] == 'nacl/secretbox', env
    p = env['kdf']['params']
    key = hashlib.scrypt(passphrase(passfile), salt=base64.b64decode(env['kdf']['salt']), n=p['N'], r=p['r'], p=p['p'], maxmem=256 * 1024 * 1024, dklen=32)
    der = nacl.secret.SecretBox(key).decrypt(base64.b64decode(env['ciphertext']), base64.b64decode(env['cipher']['nonce']))
    return serialization.load_der_private_key(der, None)

def spki(pub_key):
    return pub_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)

def blob(layout, data):
    d = hashlib.sha256(data).hexdigest()
    os.makedirs(f'{layout}/blobs/sha256', exist_ok=True)
    open(f'{layout}/blobs/sha256/{d}', 'wb').write(data)
    return {'digest': f'sha256:{d}', 'size': len(data)}

def read_blob(layout, digest):
    return open(f'{layout}/blobs/sha256/{digest.split(":")[1]}', 'rb').read()

cmd = sys.argv[1]
if cmd == 'decrypt-key':
    k = load_private(sys.argv[2], sys.argv[3])
    assert isinstance(k, ec.EllipticCurvePrivateKey) and k.curve.name == 'secp256r1', k
    pub = serialization.load_pem_public_key(open(sys.argv[4], 'rb').read())
    assert spki(pub) == spki(k.public_key()), 'the public key is not the private key\'s'
    print('ok')
elif cmd == 'make-key':
    k = ec.generate_private_key(ec.SECP256R1())
    der = k.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    salt, nonce = os.urandom(32), os.urandom(24)
    key = hashlib.scrypt(passphrase(sys.argv[4]), salt=salt, n=32768, r=8, p=1, maxmem=256 * 1024 * 1024, dklen=32)
    ct = nacl.secret.SecretBox(key).encrypt(der, nonce).ciphertext
    env = {'kdf': {'name': 'scrypt', 'params': {'N': 32768, 'r': 8, 'p': 1}, 'salt': base64.b64encode(salt).decode()},
           'cipher': {'name': 'nacl/secretbox', 'nonce': base64.b64encode(nonce).decode()}, 'ciphertext': base64.b64encode(ct).decode()}
    b = base64.b64encode(json.dumps(env).encode()).decode()
    lines = '\n'.join(b[i:i + 64] for i in range(0, len(b), 64))
    open(sys.argv[2], 'w').write(f'-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n{lines}\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n')
    open(sys.argv[3], 'wb').write(k.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
elif cmd == 'sign':
    _, _, priv, passfile, identity, digest, layout = sys.argv
    k = load_private(priv, passfile)
    payload = json.dumps({'critical': {'identity': {'docker-reference': identity}, 'image': {'docker-manifest-digest': digest},
                                       'type': 'cosign container image signature'}, 'optional': None}, separators=(',', ':')).encode()
    sig = base64.b64encode(k.sign(payload, ec.ECDSA(hashes.SHA256()))).decode()
    layer = {'mediaType': 'application/vnd.dev.cosign.simplesigning.v1+json', **blob(layout, payload),
             'annotations': {'dev.cosignproject.cosign/signature': sig}}
    config = {'mediaType': 'application/vnd.oci.image.config.v1+json', **blob(layout, json.dumps({'rootfs': {'type': 'layers', 'diff_ids': [layer['digest']]}}).encode())}
    manifest = json.dumps({'schemaVersion': 2, 'mediaType': 'application/vnd.oci.image.manifest.v1+json', 'config': config, 'layers': [layer]}).encode()
    m = {'mediaType': 'application/vnd.oci.image.manifest.v1+json', **blob(layout, manifest), 'annotations': {'org.opencontainers.image.ref.name': 'sig'}}
    open(f'{layout}/oci-layout', 'w').write('{"imageLayoutVersion":"1.0.0"}')
    open(f'{layout}/index.json', 'w').write(json.dumps({'schemaVersion': 2, 'manifests': [m]}))
elif cmd == 'verify':
    _, _, layout, pubfile, digest, identity = sys.argv
    pub = serialization.load_pem_public_key(open(pubfile, 'rb').read())
    index = json.load(open(f'{layout}/index.json'))
    manifest = json.loads(read_blob(layout, index['manifests'][0]['digest']))
    assert manifest['mediaType'] == 'application/vnd.oci.image.manifest.v1+json', manifest
    for layer in manifest['layers']:
        if layer['mediaType'] != 'application/vnd.dev.cosign.simplesigning.v1+json':
            continue
        payload = read_blob(layout, layer['digest'])
        try:
            pub.verify(base64.b64decode(layer['annotations']['dev.cosignproject.cosign/signature']), payload, ec.ECDSA(hashes.SHA256()))
        except Exception:
            continue
        doc = json.loads(payload)
        c = doc['critical']
        assert set(doc) == {'critical', 'optional'} and set(c) == {'type', 'image', 'identity'}, doc
        assert c['type'] == 'cosign container image signature', c
        if c['image'] == {'docker-manifest-digest': digest} and c['identity'] == {'docker-reference': identity}:
            print('ok')
            sys.exit(0)
    sys.exit(f'no signature of {digest} for {identity} by {pubfile}')
