#!/usr/bin/env bash
# Compiles the native helper and the TypeScript (src, test, bench) into dist/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build-native.sh
rm -rf dist
node node_modules/typescript/bin/tsc -p tsconfig.json
node scripts/bundle.mjs
node scripts/standalone.mjs
