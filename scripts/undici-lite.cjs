'use strict'
// What oci-s2i uses of undici (Agent and Dispatcher#request, `request`, interceptors.redirect), for the CLI
// bundle only (scripts/bundle.mjs maps `undici` here). undici's index also sets up fetch, WebSocket,
// EventSource, cookies, caches and mocks, and through `globalThis.Headers` makes Node load its own bundled
// copy of undici: ~40 ms of every CLI start for code the CLI never calls. Pinned to the undici version in
// package.json; the CLI tests run through the bundle, so a drift shows there.
const Dispatcher = require('undici/lib/dispatcher/dispatcher')
const Agent = require('undici/lib/dispatcher/agent')
const api = require('undici/lib/api')
const util = require('undici/lib/core/util')
const { InvalidArgumentError } = require('undici/lib/core/errors')
const { getGlobalDispatcher, setGlobalDispatcher } = require('undici/lib/global')

Object.assign(Dispatcher.prototype, api)

// undici/index.js makeDispatcher (MIT), unchanged.
function makeDispatcher (fn) {
  return (url, opts, handler) => {
    if (typeof opts === 'function') {
      handler = opts
      opts = null
    }
    if (!url || (typeof url !== 'string' && typeof url !== 'object' && !(url instanceof URL))) {
      throw new InvalidArgumentError('invalid url')
    }
    if (opts != null && typeof opts !== 'object') {
      throw new InvalidArgumentError('invalid opts')
    }
    if (opts && opts.path != null) {
      if (typeof opts.path !== 'string') {
        throw new InvalidArgumentError('invalid opts.path')
      }
      let path = opts.path
      if (!opts.path.startsWith('/')) {
        path = `/${path}`
      }
      url = new URL(util.parseOrigin(url).origin + path)
    } else {
      if (!opts) {
        opts = typeof url === 'object' ? url : {}
      }
      url = util.parseURL(url)
    }
    const { agent, dispatcher = getGlobalDispatcher() } = opts
    if (agent) {
      throw new InvalidArgumentError('unsupported opts.agent. Did you mean opts.client?')
    }
    return fn.call(dispatcher, {
      ...opts,
      origin: url.origin,
      path: url.search ? `${url.pathname}${url.search}` : url.pathname,
      method: opts.method || (opts.body ? 'PUT' : 'GET')
    }, handler)
  }
}

module.exports = {
  Dispatcher,
  Agent,
  getGlobalDispatcher,
  setGlobalDispatcher,
  request: makeDispatcher(api.request),
  interceptors: {
    redirect: require('undici/lib/interceptor/redirect')
  }
}
