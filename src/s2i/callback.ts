// --callback-url: POST {"success":bool,"labels":{…}} when the build ends. Failures are warnings, never errors.

import { request } from '../sys/http-client.js';
import { NetAgent } from '../sys/net-agent.js';
import type { ProgressSink } from '../events.js';

export interface CallbackResult {
  ok: boolean;
  status?: number;
  attempts: number;
  error?: string;
}

export interface CallbackOptions {
  /** Per attempt (default 10 s). */
  timeoutMs?: number;
  /** Extra attempts after the first (default 1). */
  retries?: number;
  onProgress?: ProgressSink;
}

/** URL without userinfo or query, for messages. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '<invalid URL>';
  }
}

export async function postCallback(url: string, payload: { success: boolean; labels: Record<string, string> }, opts: CallbackOptions = {}): Promise<CallbackResult> {
  const timeout = opts.timeoutMs ?? 10_000;
  const attemptsMax = 1 + (opts.retries ?? 1);
  const body = JSON.stringify({ success: payload.success, labels: payload.labels });
  let last: CallbackResult = { ok: false, attempts: 0 };
  try {
    const scheme = new URL(url).protocol;
    if (scheme !== 'http:' && scheme !== 'https:') throw new Error(`unsupported scheme ${scheme}`);
  } catch (e) {
    last = { ok: false, attempts: 0, error: `invalid callback URL: ${(e as Error).message}` };
    opts.onProgress?.({ type: 'log', level: 'warn', message: `callback not sent: ${last.error}` });
    return last;
  }
  // The system trust store and HTTPS_PROXY/NO_PROXY, as for registries.
  const dispatcher = new NetAgent();
  for (let attempt = 1; attempt <= attemptsMax; attempt++) {
    try {
      const res = await request(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        headersTimeout: timeout,
        bodyTimeout: timeout,
        signal: AbortSignal.timeout(timeout),
        dispatcher,
      });
      await res.body.dump().catch(() => {});
      last = { ok: res.statusCode >= 200 && res.statusCode < 300, status: res.statusCode, attempts: attempt };
      // 4xx will not get better by retrying; 5xx might.
      if (last.ok || res.statusCode < 500) break;
      last.error = `HTTP ${res.statusCode}`;
    } catch (e) {
      last = { ok: false, attempts: attempt, error: (e as Error).message };
    }
  }
  await dispatcher.close().catch(() => {});
  if (!last.ok) {
    last.error ??= `HTTP ${last.status}`;
    opts.onProgress?.({ type: 'log', level: 'warn', message: `callback to ${redact(url)} failed after ${last.attempts} attempt(s): ${last.error}` });
  }
  return last;
}
