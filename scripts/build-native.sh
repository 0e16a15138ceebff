#!/usr/bin/env bash
# Builds native/sys.c into build/native.node against the running Node's headers (no node-gyp needed).
set -euo pipefail
cd "$(dirname "$0")/.."
inc=""
for d in "$(dirname "$(dirname "$(command -v node)")")/include/node" /usr/include/node /usr/local/include/node; do
  if [ -f "$d/node_api.h" ]; then inc="$d"; break; fi
done
if [ -z "$inc" ]; then
  echo "oci-s2i: cannot find Node's headers (node_api.h); install the nodejs headers (Debian: libnode-dev) and retry" >&2
  exit 1
fi
cc=${CC:-cc}
if ! command -v "$cc" >/dev/null; then
  echo "oci-s2i: a C compiler is needed to build native/sys.c (Debian: apt-get install build-essential)" >&2
  exit 1
fi
mkdir -p build
if [ ! -f build/native.node ] || [ native/sys.c -nt build/native.node ]; then
  "$cc" -O2 -Wall -Wextra -Wno-unused-parameter -shared -fPIC -DNODE_GYP_MODULE_NAME=oci_s2i_sys \
    -I"$inc" -o build/native.node.tmp native/sys.c
  mv build/native.node.tmp build/native.node
fi
# Optional: the libdeflate block compressor behind the default gzip backend (native/deflate.c). Without
# libdeflate's headers (Debian: libdeflate-dev) the engine uses zlib's deflate for parallel gzip instead.
if echo '#include <libdeflate.h>' | "$cc" -E - >/dev/null 2>&1; then
  if [ ! -f build/deflate.node ] || [ native/deflate.c -nt build/deflate.node ]; then
    "$cc" -O2 -Wall -Wextra -Wno-unused-parameter -shared -fPIC -DNODE_GYP_MODULE_NAME=oci_s2i_deflate \
      -I"$inc" -o build/deflate.node.tmp native/deflate.c -ldeflate
    mv build/deflate.node.tmp build/deflate.node
  fi
else
  rm -f build/deflate.node
  echo "oci-s2i: libdeflate not found (Debian: apt-get install libdeflate-dev): parallel gzip uses zlib (about half the speed)" >&2
fi
