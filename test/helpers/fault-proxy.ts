// An HTTP proxy on a real loopback socket in front of a real registry, injecting the faults a real server
// cannot be made to produce on demand: a connection cut after N body bytes (request or response), 429 with
// Retry-After, 5xx, a stalled response (held for N ms), and counting every request and its bytes so tests can assert what travelled.
//
// The Host header is forwarded unchanged, so distribution builds upload Locations that point back at the
// proxy. A request cut is, by default, *buffered* like nginx's proxy_request_buffering: the registry sees
// none of the cut request. `forwardPartial: true` streams the bytes through instead, so the registry keeps a
// partial PATCH (distribution 2.8 then invalidates the upload session).
import http from 'node:http';
import type { AddressInfo } from 'node:net';

interface Match {
  /** Only requests with this method. */
  method?: string;
  /** Only paths (without query) matching this: a RegExp, or a substring. */
  path?: RegExp | string;
  /** Let this many matching requests through untouched before the fault fires. */
  skip?: number;
}

export type Fault =
  | (Match & { kind: 'cut-request'; afterBytes: number; forwardPartial?: boolean })
  | (Match & { kind: 'cut-response'; afterBytes: number })
  /** Holds the response for `ms`: before its headers, or after `afterBytes` body bytes. Then lets it continue. */
  | (Match & { kind: 'stall'; ms: number; afterBytes?: number })
  | (Match & { kind: 'status'; status: number; times?: number; retryAfter?: string; body?: string; headers?: Record<string, string> });

export interface RequestRecord {
  method: string;
  path: string;
  status: number;
  /** Request body bytes the proxy received from the client. */
  requestBytes: number;
  /** Response body bytes the proxy sent to the client. */
  responseBytes: number;
  fault?: Fault['kind'];
}

export interface ProxyStats {
  requests: RequestRecord[];
  /** Requests matching a method and path filter. */
  count(method?: string, path?: RegExp | string): number;
  /** Sum of request body bytes (uploads) for matching requests. */
  requestBytes(method?: string, path?: RegExp | string): number;
  /** Sum of response body bytes (downloads) for matching requests. */
  responseBytes(method?: string, path?: RegExp | string): number;
  reset(): void;
}

export interface FaultProxy {
  /** host:port of the proxy; use it as the registry. */
  host: string;
  stats: ProxyStats;
  /** Arms faults (each fires once, or `times`); replaces any still armed. */
  setFault(f: Fault | Fault[] | null): void;
  /** Faults still armed (not yet fired). */
  pending(): number;
  stop(): Promise<void>;
}

function matches(m: Match, method: string, path: string): boolean {
  if (m.method && m.method !== method) return false;
  if (m.path === undefined) return true;
  return typeof m.path === 'string' ? path.includes(m.path) : m.path.test(path);
}

export async function startFaultProxy(targetHostPort: string, opts: { faults?: Fault[] } = {}): Promise<FaultProxy> {
  const colon = targetHostPort.lastIndexOf(':');
  const targetHost = targetHostPort.slice(0, colon);
  const targetPort = Number(targetHostPort.slice(colon + 1));
  const agent = new http.Agent({ keepAlive: true });
  let faults: (Fault & { left: number; skipped: number })[] = [];
  const arm = (f: Fault | Fault[] | null): void => {
    faults = (f === null ? [] : Array.isArray(f) ? f : [f]).map((x) => ({ ...x, left: x.kind === 'status' ? (x.times ?? 1) : 1, skipped: 0 }));
  };
  arm(opts.faults ?? null);

  const records: RequestRecord[] = [];
  const filter = (method?: string, path?: RegExp | string) => (r: RequestRecord) => matches({ ...(method ? { method } : {}), ...(path !== undefined ? { path } : {}) }, r.method, r.path);
  const stats: ProxyStats = {
    requests: records,
    count: (m, p) => records.filter(filter(m, p)).length,
    requestBytes: (m, p) => records.filter(filter(m, p)).reduce((a, r) => a + r.requestBytes, 0),
    responseBytes: (m, p) => records.filter(filter(m, p)).reduce((a, r) => a + r.responseBytes, 0),
    reset: () => {
      records.length = 0;
    },
  };

  const take = (kind: Fault['kind'], method: string, path: string): (Fault & { left: number }) | undefined => {
    const f = faults.find((x) => x.kind === kind && x.left > 0 && matches(x, method, path));
    if (!f) return undefined;
    if (f.skipped < (f.skip ?? 0)) {
      f.skipped++;
      return undefined;
    }
    f.left--;
    return f;
  };

  const server = http.createServer((req, res) => {
    const method = req.method ?? 'GET';
    const path = (req.url ?? '/').split('?')[0]!;
    const rec: RequestRecord = { method, path, status: 0, requestBytes: 0, responseBytes: 0 };
    records.push(rec);

    const status = take('status', method, path);
    if (status && status.kind === 'status') {
      rec.fault = 'status';
      req.on('data', (d: Buffer) => (rec.requestBytes += d.length));
      req.on('end', () => {
        const body = status.body ?? JSON.stringify({ errors: [{ code: 'UNKNOWN', message: `injected ${status.status}` }] });
        const headers: Record<string, string> = { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...status.headers };
        if (status.retryAfter !== undefined) headers['retry-after'] = status.retryAfter;
        rec.status = status.status;
        res.writeHead(status.status, headers);
        rec.responseBytes = method === 'HEAD' ? 0 : Buffer.byteLength(body);
        res.end(method === 'HEAD' ? undefined : body);
      });
      return;
    }

    const cutReq = take('cut-request', method, path);
    const cutRes = take('cut-response', method, path);
    const stall = take('stall', method, path);
    const hold = (ms: number, then: () => void): void => {
      const timer = setTimeout(then, ms);
      res.once('close', () => clearTimeout(timer));
    };
    const upstream = http.request({ host: targetHost, port: targetPort, method, path: req.url, headers: req.headers, agent }, (up) => {
      if (rec.fault === 'cut-request') return void up.resume(); // the registry's answer to a cut request: the client sees the cut
      rec.status = up.statusCode ?? 0;
      res.once('close', () => up.destroy());
      if (stall && stall.kind === 'stall' && !stall.afterBytes) {
        rec.fault = 'stall';
        up.pause();
        hold(stall.ms, () => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.resume();
        });
      } else {
        res.writeHead(up.statusCode ?? 502, up.headers);
      }
      let stalled = false;
      up.on('data', (d: Buffer) => {
        if (stall && stall.kind === 'stall' && stall.afterBytes && !stalled && rec.responseBytes + d.length >= stall.afterBytes) {
          stalled = true;
          rec.fault = 'stall';
          const keep = stall.afterBytes - rec.responseBytes;
          rec.responseBytes += keep;
          res.write(d.subarray(0, keep));
          up.pause();
          hold(stall.ms, () => {
            rec.responseBytes += d.length - keep;
            res.write(d.subarray(keep));
            up.resume();
          });
          return;
        }
        if (cutRes && cutRes.kind === 'cut-response' && rec.responseBytes + d.length >= cutRes.afterBytes) {
          const keep = cutRes.afterBytes - rec.responseBytes;
          rec.fault = 'cut-response';
          rec.responseBytes += keep;
          // Flush the bytes before the cut, then drop the connection without finishing the response.
          res.write(d.subarray(0, keep), () => req.socket.destroy());
          up.destroy();
          return;
        }
        rec.responseBytes += d.length;
        res.write(d);
      });
      up.on('end', () => res.end());
      up.on('error', () => req.socket.destroy());
    });
    upstream.on('error', () => req.socket.destroy());

    if (cutReq && cutReq.kind === 'cut-request') {
      const held: Buffer[] = [];
      let fired = false;
      req.on('data', (d: Buffer) => {
        if (fired) return;
        rec.requestBytes += d.length;
        if (rec.requestBytes >= cutReq.afterBytes) {
          fired = true;
          rec.fault = 'cut-request';
          if (cutReq.forwardPartial) {
            // The registry reads the partial body to its end (the connection half-closed) and is done with the
            // request (it answers or closes) before the client sees the cut, so the client's next request finds the
            // upload as the cut left it. A fixed pause is not enough on a loaded machine.
            upstream.write(d.subarray(0, d.length - (rec.requestBytes - cutReq.afterBytes)), () => {
              const drop = (): void => {
                clearTimeout(timer);
                upstream.destroy();
                req.socket.destroy();
              };
              const timer = setTimeout(drop, 5000);
              upstream.once('response', drop);
              upstream.once('close', drop);
              upstream.socket?.end();
            });
            return;
          }
          // Buffered: the registry saw none of it; drop both sides.
          setImmediate(() => {
            upstream.destroy();
            req.socket.destroy();
          });
          return;
        }
        if (cutReq.forwardPartial) upstream.write(d);
        else held.push(d);
      });
      req.on('end', () => {
        if (fired) return;
        // Body shorter than the cut point: the fault did not fire; forward and re-arm it.
        cutReq.left++;
        for (const b of held) upstream.write(b);
        upstream.end();
      });
      return;
    }
    req.on('data', (d: Buffer) => {
      rec.requestBytes += d.length;
      upstream.write(d);
    });
    req.on('end', () => upstream.end());
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    stats,
    setFault: arm,
    pending: () => faults.reduce((a, f) => a + f.left, 0),
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
