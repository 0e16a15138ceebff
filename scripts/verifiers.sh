#!/usr/bin/env bash
# Fetches the independent sigstore verifiers of test/sign/skopeo-sigstore.test.ts into build/verifiers/: Debian
# trixie's skopeo (containers/image with sigstore enabled; bookworm's 1.9.3 has it disabled by a Debian patch) with
# trixie's loader and the libraries it needs, and trixie's cosign. bookworm's glibc is too old for trixie's skopeo,
# so build/verifiers/bin/skopeo runs it with trixie's ld-linux-x86-64.so.2 and --library-path; cosign needs only
# libc6 >= 2.34 and runs as is. Nothing of the system is touched (no dpkg database, nothing in /etc): apt-get works
# on a private state dir and sources list, and checks trixie's InRelease signature against Debian's archive keyring
# (bookworm's debian-archive-keyring holds trixie's keys) and each .deb against the SHA256 of the signed Packages
# list; the packages are unpacked with dpkg-deb -x. Kept once complete (build/verifiers/.complete records the
# versions); offline afterwards. Run by scripts/setup.sh test. Set DEBIAN_MIRROR for another mirror.
# Exit 0 when complete; otherwise 1 with one line on stderr (the tests that need these tools then fail saying so).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$PWD/build/verifiers
stamp=$out/.complete
# The packages: the two tools and the closure of skopeo's NEEDED libraries (readelf -d, checked below).
pkgs=(skopeo cosign libc6 libgpgme11t64 libassuan9 libgpg-error0 libsqlite3-0)
if [ -f "$stamp" ] && [ "$stamp" -nt "$0" ] && [ -x "$out/bin/skopeo" ] && [ -x "$out/bin/cosign" ]; then exit 0; fi
fail() { echo "verifiers: $*" >&2; exit 1; }
for c in apt-get dpkg-deb readelf; do command -v "$c" >/dev/null || fail "$c is missing (a Debian system is needed)"; done
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -f "$keyring" ] || fail "$keyring is missing: apt-get install -y debian-archive-keyring"
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

work=$out.tmp
rm -rf "$work"
mkdir -p "$work/apt/etc" "$work/apt/state/lists/partial" "$work/apt/cache/archives/partial" "$work/debs" "$work/root"
trap 'rm -rf "$work"' EXIT
echo "deb [signed-by=$keyring] $mirror trixie main" >"$work/apt/etc/sources.list"
# The downloads run as apt's _apt user when it exists: it must be able to write there.
if id _apt >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then chown -R _apt "$work/apt/state/lists/partial" "$work/apt/cache/archives/partial" "$work/debs"; fi
apt_opts=(-q -o "Dir::Etc::SourceList=$work/apt/etc/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State=$work/apt/state" -o "Dir::Cache=$work/apt/cache" -o Dir::State::status=/dev/null
  -o APT::Architecture=amd64 -o APT::Architectures::=amd64 -o Acquire::Languages=none
  -o Acquire::AllowInsecureRepositories=false -o Acquire::AllowDowngradeToInsecureRepositories=false)
[ "$(uname -m)" = x86_64 ] || fail "only x86_64 is provided (this machine is $(uname -m))"
# `update` refuses a Release whose signature the keyring does not verify (the list is then not used at all); a
# list that could not be fetched is only a warning to apt, so any warning but the sandbox one fails here.
problems() { grep -E '^(W|E): ' "$1" | grep -v 'unsandboxed as root' || true; }
if ! apt-get "${apt_opts[@]}" update >"$work/update.log" 2>&1 || [ -n "$(problems "$work/update.log")" ]; then
  fail "cannot fetch or verify Debian trixie's package list from $mirror ($(problems "$work/update.log" | head -1 | cut -c1-200)); set DEBIAN_MIRROR to a reachable Debian mirror"
fi
# `download` checks each .deb against the SHA256 of the verified Packages list.
(cd "$work/debs" && apt-get "${apt_opts[@]}" download "${pkgs[@]}" >"$work/download.log" 2>&1) ||
  fail "apt-get download ${pkgs[*]} failed: $(problems "$work/download.log" | head -1 | cut -c1-200)"
versions=()
for p in "${pkgs[@]}"; do
  deb=$(ls "$work/debs/${p}_"*.deb 2>/dev/null | head -1)
  [ -n "$deb" ] || fail "apt-get download did not fetch $p"
  dpkg-deb -x "$deb" "$work/root"
  versions+=("$p $(dpkg-deb -f "$deb" Version)")
done
lib=$work/root/usr/lib/x86_64-linux-gnu
# Every NEEDED library of skopeo and of those libraries is in the set (nothing comes from the host's glibc).
for f in "$work/root/usr/bin/skopeo" "$lib"/libgpgme.so.11 "$lib"/libassuan.so.9 "$lib"/libgpg-error.so.0 "$lib"/libsqlite3.so.0; do
  for n in $(readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    [ -e "$lib/$n" ] || fail "$(basename "$f") needs $n, which none of ${pkgs[*]} provides"
  done
done
mkdir -p "$work/root/bin"
cat >"$work/root/bin/skopeo" <<'EOF'
#!/bin/sh
# trixie's skopeo on trixie's glibc (scripts/verifiers.sh).
here=$(cd "$(dirname "$0")/.." && pwd)
lib=$here/usr/lib/x86_64-linux-gnu
exec "$lib/ld-linux-x86-64.so.2" --library-path "$lib" "$here/usr/bin/skopeo" "$@"
EOF
cat >"$work/root/bin/cosign" <<'EOF'
#!/bin/sh
# trixie's cosign (static Go but for libc; scripts/verifiers.sh).
here=$(cd "$(dirname "$0")/.." && pwd)
exec "$here/usr/bin/cosign" "$@"
EOF
chmod 0755 "$work/root/bin/skopeo" "$work/root/bin/cosign"
"$work/root/bin/skopeo" --version >/dev/null 2>"$work/run.log" || fail "trixie's skopeo does not run here: $(head -1 "$work/run.log")"
"$work/root/bin/cosign" version >/dev/null 2>"$work/run.log" || fail "trixie's cosign does not run here: $(head -1 "$work/run.log")"
printf '%s\n' "${versions[@]}" >"$work/root/.complete"
rm -rf "$out"
mv "$work/root" "$out"
echo "verifiers: $(tr '\n' ',' <"$stamp" | sed 's/,$//; s/,/, /g') in build/verifiers" >&2
