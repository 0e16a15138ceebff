'use strict'
// What oci-s2i uses of undici (Agent and Dispatcher#request, `request`, interceptors.redirect, buildConnector),
// for the CLI bundle only (scripts/bundle.mjs maps `undici` here). undici's index also sets up fetch,
// WebSocket, EventSource, cookies, caches and mocks, and through `globalThis.Headers` makes Node load its own
// bundled copy of undici: ~40 ms of every CLI start for code the CLI never calls. Exports exactly the names
// src/sys/http-client.ts takes from undici. Made for the undici version package.json pins: scripts/bundle.mjs
// refuses another version or a missing `undici/lib/…` file (scripts/undici-shim-check.mjs).
const Dispatcher = require('undici/lib/dispatcher/dispatcher')
const Agent = require('undici/lib/dispatcher/agent')
const api = require('undici/lib/api')
const buildConnector = require('undici/lib/core/connect')
const { getGlobalDispatcher, setGlobalDispatcher } = require('undici/lib/global')

Object.assign(Dispatcher.prototype, api)

/** `request(url, opts)` as oci-s2i calls it: an absolute http(s) URL string or URL, options with an optional
 *  dispatcher (else the global one). */
function request (url, opts = {}) {
  const u = url instanceof URL ? url : new URL(String(url))
  const { dispatcher = getGlobalDispatcher(), ...rest } = opts
  return dispatcher.request({
    ...rest,
    origin: u.origin,
    path: `${u.pathname}${u.search}`,
    method: rest.method || (rest.body ? 'PUT' : 'GET')
  })
}

module.exports = {
  Dispatcher,
  Agent,
  buildConnector,
  getGlobalDispatcher,
  setGlobalDispatcher,
  request,
  interceptors: {
    redirect: require('undici/lib/interceptor/redirect')
  }
}
