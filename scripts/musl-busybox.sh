#!/usr/bin/env bash
# Builds build/musl/busybox: Debian's busybox source compiled against musl (Debian's musl-tools), dynamically
# linked, its interpreter /lib/ld-musl-x86_64.so.1: the userland of an Alpine-like builder image, made here
# because only Debian's mirror is reachable. test/helpers/musl-userland.ts puts it with musl's loader (Debian's
# `musl` package) into an image with no glibc at all. Made once (kept while this script is unchanged); run by
# scripts/setup.sh test, which installs musl-tools first. Set DEBIAN_MIRROR for another mirror.
# A copy is kept outside the checkout, in ${XDG_CACHE_HOME:-~/.cache}/oci-s2i-dev/, keyed by this script and
# musl-gcc's version, so a fresh clone on the same machine does not compile it again (~2 min on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
version=1.35.0
sha256=faeeb244c35a348a334f4a59e44626ee870fb07b6884d68c10ae8bc19f83a694
out=build/musl
if [ -x "$out/busybox" ] && [ "$out/busybox" -nt "$0" ]; then exit 0; fi
if ! command -v musl-gcc >/dev/null; then
  echo "musl-busybox: musl-gcc is missing: apt-get install -y musl-tools" >&2
  exit 1
fi
key=$( { cat "$0"; musl-gcc --version 2>&1 | head -1; dpkg-query -W -f '${Version}' musl-dev 2>/dev/null || true; } | sha256sum | cut -c1-16)
cached=${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/oci-s2i-dev/musl-busybox-$key
if [ -x "$cached" ] && [ "$(readelf -l "$cached" 2>/dev/null | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')" = /lib/ld-musl-x86_64.so.1 ]; then
  mkdir -p "$out"
  install -m 0755 "$cached" "$out/busybox.tmp"
  mv "$out/busybox.tmp" "$out/busybox"
  exit 0
fi
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tarball=$work/busybox_$version.orig.tar.bz2
if ! curl -sSf -o "$tarball" "$mirror/pool/main/b/busybox/busybox_$version.orig.tar.bz2"; then
  echo "musl-busybox: cannot download busybox $version's source from $mirror (set DEBIAN_MIRROR to a reachable Debian mirror)" >&2
  exit 1
fi
echo "$sha256  $tarball" | sha256sum -c --quiet - || { echo "musl-busybox: the source from $mirror is not busybox $version's (sha256 differs)" >&2; exit 1; }
tar -xjf "$tarball" -C "$work"
src=$work/busybox-$version
# musl-gcc leaves the system's include dirs out; busybox needs the kernel's headers only.
mkdir -p "$work/kernel-headers"
for d in linux asm-generic; do ln -s "/usr/include/$d" "$work/kernel-headers/$d"; done
ln -s "/usr/include/$(gcc -print-multiarch)/asm" "$work/kernel-headers/asm"
# The applets a builder's scripts and the standalone engine's entry script use, and no more (allnoconfig + these).
applets="BUSYBOX ASH SH_IS_ASH ASH_OPTIMIZE_FOR_SIZE ASH_BASH_COMPAT ASH_ECHO ASH_PRINTF ASH_TEST ASH_GETOPTS ASH_CMDCMD
  FEATURE_SH_MATH BASENAME CAT CHMOD CHOWN CP CUT DATE DIFF CMP DIRNAME DU ECHO ENV EXPR FALSE FIND GREP HEAD HOSTNAME
  ID LN LS MKDIR MV NPROC PRINTF PWD READLINK RM RMDIR SED SEQ SLEEP SORT STAT TAIL TEE TEST TEST1 TEST2 TOUCH TR TRUE
  UNAME UNIQ WC WHICH WHOAMI XARGS LONG_OPTS FEATURE_PRESERVE_HARDLINKS FEATURE_CP_LONG_OPTIONS FEATURE_READLINK_FOLLOW
  FEATURE_STAT_FORMAT FEATURE_LS_RECURSIVE FEATURE_LS_FILETYPES FEATURE_LS_FOLLOWLINKS FEATURE_LS_SORTFILES
  FEATURE_LS_TIMESTAMPS FEATURE_LS_USERNAME FEATURE_FIND_PRINT0 FEATURE_FIND_MAXDEPTH FEATURE_FIND_TYPE
  FEATURE_FIND_PERM FEATURE_FIND_NOT FEATURE_FIND_PAREN FEATURE_FIND_EXEC FEATURE_FIND_PATH FEATURE_FIND_PRUNE
  FEATURE_FIND_USER FEATURE_FIND_GROUP FEATURE_FIND_SIZE FEATURE_FIND_XDEV FEATURE_FIND_DEPTH FEATURE_SORT_BIG
  FEATURE_HUMAN_READABLE"
make -C "$src" -s allnoconfig >/dev/null
for a in $applets; do sed -i "s/^# CONFIG_$a is not set\$/CONFIG_$a=y/" "$src/.config"; done
{ yes "" || true; } | make -C "$src" -s oldconfig >/dev/null 2>&1
make -C "$src" -s -j"$(nproc)" CC=musl-gcc HOSTCC=gcc EXTRA_CFLAGS="-isystem $work/kernel-headers" busybox >"$work/make.log" 2>&1 ||
  { tail -20 "$work/make.log" >&2; echo "musl-busybox: the build failed (above)" >&2; exit 1; }
interp=$(readelf -l "$src/busybox" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
if [ "$interp" != /lib/ld-musl-x86_64.so.1 ]; then
  echo "musl-busybox: the result's interpreter is '$interp', not musl's" >&2
  exit 1
fi
mkdir -p "$out"
install -m 0755 "$src/busybox" "$out/busybox.tmp"
mv "$out/busybox.tmp" "$out/busybox"
# Kept for the next clone (best effort: a cache dir that cannot be written changes nothing).
if mkdir -p "$(dirname "$cached")" 2>/dev/null && install -m 0755 "$out/busybox" "$cached.tmp.$$" 2>/dev/null; then
  mv "$cached.tmp.$$" "$cached"
fi
