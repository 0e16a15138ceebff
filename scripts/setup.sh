#!/usr/bin/env bash
# One-time set-up for `npm test`, `npm run demo` and `npm run bench` on a fresh Debian machine:
# npm ci when node_modules is missing or stale, the Debian packages the command needs (apt-get as root,
# otherwise a message listing them), then the build. Usage: setup.sh test|demo|bench
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-test}

# Debian package -> a command (or an absolute file path) it provides (to test presence without dpkg queries).
declare -A provides=(
  [runc]=runc [crun]=crun [uidmap]=newuidmap [docker-registry]=docker-registry [skopeo]=skopeo
  [umoci]=umoci [busybox-static]=busybox [git]=git [apache2-utils]=htpasswd [gcc]=cc
  [buildah]=buildah [pigz]=pigz [zstd]=zstd [util-linux]=unshare [podman]=podman [openssl]=openssl [time]=/usr/bin/time [debootstrap]=debootstrap [libdeflate-dev]=/usr/include/libdeflate.h [musl-tools]=musl-gcc
  [rpm]=rpmbuild [golang-go]=go [db5.3-util]=db5.3_load
  [python3-nacl]=/usr/lib/python3/dist-packages/nacl/__init__.py [python3-cryptography]=/usr/lib/python3/dist-packages/cryptography/__init__.py
)
case "$what" in
  test)  want=(runc crun uidmap docker-registry skopeo umoci busybox-static git apache2-utils gcc util-linux zstd podman buildah openssl libdeflate-dev musl-tools rpm golang-go db5.3-util python3-nacl python3-cryptography) ;;
  demo)  want=(runc crun uidmap docker-registry busybox-static gcc util-linux) ;;
  bench) want=(runc uidmap docker-registry skopeo umoci busybox-static gcc buildah pigz zstd util-linux time debootstrap libdeflate-dev) ;;
  *) echo "setup.sh: unknown target $what (test|demo|bench)" >&2; exit 64 ;;
esac
missing=()
for p in "${want[@]}"; do
  what_file=${provides[$p]}
  command -v "$what_file" >/dev/null 2>&1 || [ -x "/usr/sbin/$what_file" ] || [ -x "/bin/$what_file" ] ||
    { [[ $what_file == /* ]] && [ -e "$what_file" ]; } || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "oci-s2i setup: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq "${missing[@]}" >&2
  else
    echo "oci-s2i setup: missing Debian packages: ${missing[*]}" >&2
    echo "  install them as root:  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

# npm ci when node_modules is missing or older than the lock file.
stamp=node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  echo "oci-s2i setup: npm ci" >&2
  npm ci --no-audit --no-fund >&2
fi
bash scripts/build.sh >&2
# The musl userland of the musl builder-image test (test/helpers/musl-userland.ts): made once.
if [ "$what" = test ]; then bash scripts/musl-busybox.sh >&2; fi
# trixie's skopeo and cosign, the sigstore verifiers of test/sign/skopeo-sigstore.test.ts (fetched once, verified by
# apt). Not fatal here: without them that test fails in one line saying why; every other test runs.
if [ "$what" = test ]; then bash scripts/verifiers.sh || true; fi
