#!/usr/bin/env bash
# Builds the engine's own image (images/engine/Containerfile) with the engine itself, the standalone one
# (dist/standalone/oci-s2i), and writes it to DEST: a registry reference (pushed) or oci:DIR:TAG /
# docker-archive:FILE. Extra arguments go to `oci-s2i build-image` (e.g. --tls-verify false, --format oci).
# Needs `npm run build` first (it makes dist/standalone) and a static busybox (Debian: busybox-static).
#   scripts/engine-image.sh DEST [build-image flags...]
set -euo pipefail
if [ $# -lt 1 ] || [ "$1" = -h ] || [ "$1" = --help ]; then
  echo "usage: scripts/engine-image.sh DEST [oci-s2i build-image flags...]" >&2
  exit 64
fi
dest=$1
shift
root=$(cd "$(dirname "$0")/.." && pwd)
engine=$root/dist/standalone/oci-s2i
[ -x "$engine" ] || { echo "engine-image: $engine is missing: run npm run build" >&2; exit 1; }
busybox=${BUSYBOX:-}
if [ -z "$busybox" ]; then
  for b in /bin/busybox /usr/bin/busybox /usr/sbin/busybox; do
    [ -x "$b" ] && { busybox=$b; break; }
  done
fi
[ -n "$busybox" ] || { echo "engine-image: no busybox found: install busybox-static (or set BUSYBOX)" >&2; exit 1; }
# A dynamically linked busybox would need a libc in the image.
if command -v ldd >/dev/null && ldd "$busybox" >/dev/null 2>&1; then
  echo "engine-image: $busybox is not statically linked: install busybox-static (or set BUSYBOX)" >&2
  exit 1
fi
# The context beside dist/standalone (same filesystem: hard links, not a 100 MB copy), removed however this ends.
ctx=$(mktemp -d "$root/dist/.engine-image.XXXXXX")
trap 'rm -rf "$ctx"' EXIT
cp "$root/images/engine/Containerfile" "$ctx/Containerfile"
cp -al "$root/dist/standalone" "$ctx/oci-s2i" 2>/dev/null || cp -a "$root/dist/standalone" "$ctx/oci-s2i"
mkdir -p "$ctx/busybox/bin" "$ctx/busybox/etc" "$ctx/busybox/tmp"
chmod 1777 "$ctx/busybox/tmp"
cp "$busybox" "$ctx/busybox/bin/busybox"
chmod 755 "$ctx/busybox/bin/busybox"
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$ctx/busybox/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$ctx/busybox/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\n' > "$ctx/busybox/etc/group"
# In the background so that a TERM to this script (a CI timeout) ends the build and removes the context now,
# not when the build is over.
"$engine" build-image "$@" "$ctx" "$dest" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null; wait "$pid"; exit 143' TERM
trap 'kill -INT "$pid" 2>/dev/null; wait "$pid"; exit 130' INT
wait "$pid"
