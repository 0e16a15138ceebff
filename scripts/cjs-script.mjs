// What every one-file script made with esbuild has in common here (the CLI bundle and the in-image read-ahead
// worker: scripts/bundle.mjs; the standalone launcher: scripts/standalone.mjs): CommonJS for Node 20 (its code
// cache API takes scripts only), minified, ASCII only (one non-ASCII character made V8 hold a whole source as a
// two-byte string), and `import.meta.url` as the script's own URL, so that the modules find the files of the
// package (src/sys/native.ts) and their neighbours (src/cli/launch.ts, src/pipeline/in-image-ahead.ts).
export const cjsScript = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  define: { 'import.meta.url': '__ociS2iModuleUrl' },
  banner: { js: '"use strict";\nconst __ociS2iModuleUrl = require("node:url").pathToFileURL(__filename).href;' },
  minify: true,
  charset: 'ascii',
  logLevel: 'warning',
};
