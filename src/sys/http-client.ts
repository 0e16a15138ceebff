// The one import of undici in src/: every HTTP client of the engine (registry requests, scripts downloads,
// callbacks, the lazy TLS connector) takes undici from here. The CLI bundle replaces undici's index with
// scripts/undici-lite.cjs, which holds only these names; scripts/bundle.mjs refuses to bundle when undici is not
// the version package.json pins, when a file undici-lite.cjs requires is missing, or when a name exported here
// is not in it. Add a name here and to undici-lite.cjs together (test/cli/undici-shim.test.ts checks both).
export { Agent, buildConnector, interceptors, request } from 'undici';
export type { Dispatcher } from 'undici';
