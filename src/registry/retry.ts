// Retry policy for registry traffic: 429 (honouring Retry-After), 5xx, dropped connections, refused connections
// and DNS failures are retried with capped exponential backoff with jitter; other 4xx never are (they will not
// change by waiting), nor are TLS failures.
import { errorCode } from '../errors.js';

export interface RetryPolicy {
  /** Total tries including the first. Default 4. */
  attempts: number;
  /** First backoff step. Default 200 ms. */
  baseDelayMs: number;
  /** Cap for one backoff step (not for Retry-After, see maxRetryAfterMs). Default 5000 ms. */
  maxDelayMs: number;
}

export const defaultRetryPolicy: RetryPolicy = { attempts: 4, baseDelayMs: 200, maxDelayMs: 5000 };

/** A server asking us to wait longer than this is treated as a failure rather than stalling the build. */
export const maxRetryAfterMs = 60_000;

export function retryPolicy(p?: Partial<RetryPolicy>): RetryPolicy {
  const attempts = Math.max(1, Math.floor(p?.attempts ?? defaultRetryPolicy.attempts));
  const baseDelayMs = Math.max(0, p?.baseDelayMs ?? defaultRetryPolicy.baseDelayMs);
  const maxDelayMs = Math.max(baseDelayMs, p?.maxDelayMs ?? defaultRetryPolicy.maxDelayMs);
  return { attempts, baseDelayMs, maxDelayMs };
}

/** 429 and server errors; 501 (not implemented) and 505 will not improve with time. */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || (status >= 500 && status <= 599 && status !== 501 && status !== 505);
}

const transientCodes = new Set([
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/** A connection dropped or stalled mid-exchange. */
export function isTransientNetworkError(e: unknown): boolean {
  for (let cur: unknown = e, depth = 0; cur && depth < 4; cur = (cur as { cause?: unknown }).cause, depth++) {
    const code = errorCode(cur);
    if (code && transientCodes.has(code)) return true;
  }
  return false;
}

/**
 * Connection refused, host not found, DNS not answering, no route: the address is wrong, or the server is down
 * or not up yet. Retried like a dropped connection (skopeo's retry does too), then reported as unreachable.
 */
export function isUnreachableError(e: unknown): boolean {
  for (let cur: unknown = e, depth = 0; cur && depth < 4; cur = (cur as { cause?: unknown }).cause, depth++) {
    const code = errorCode(cur);
    if (code && /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|ENETDOWN|EHOSTDOWN|EADDRNOTAVAIL)$/.test(code)) return true;
  }
  return false;
}

/** Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP-date; returns milliseconds, undefined if unusable. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined) return undefined;
  const s = v.trim();
  if (/^\d+$/.test(s)) return Math.min(Number(s) * 1000, Number.MAX_SAFE_INTEGER);
  // An HTTP-date always has a month name; Date.parse alone would take "-5" as a year.
  if (!/[A-Za-z]{3}/.test(s)) return undefined;
  const when = Date.parse(s);
  if (Number.isNaN(when)) return undefined;
  return Math.max(0, when - now);
}

/** Backoff before try number `attempt + 1` (attempt counts from 1): "equal jitter" (half fixed, half random) over a capped exponential. */
export function backoffDelay(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
