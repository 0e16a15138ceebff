// Deterministic JSON: compact, object keys sorted by UTF-16 code unit (like JavaScript's default sort),
// arrays in order, `undefined` members dropped as JSON.stringify drops them. The same value always gives the
// same bytes, so the same build gives the same digest.
import { S2IError } from '../errors.js';

function write(v: unknown, out: string[], path: string): void {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') {
    out.push(JSON.stringify(v));
  } else if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new S2IError('ERR_JSON_INVALID', `cannot serialise ${v} at ${path || '/'}: JSON has no such number`);
    out.push(JSON.stringify(v));
  } else if (Array.isArray(v)) {
    out.push('[');
    v.forEach((x, i) => {
      if (i > 0) out.push(',');
      // JSON.stringify writes null for undefined array members; so do we.
      if (x === undefined) out.push('null');
      else write(x, out, `${path}/${i}`);
    });
    out.push(']');
  } else if (typeof v === 'object') {
    out.push('{');
    let first = true;
    for (const k of Object.keys(v as object).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x === undefined || typeof x === 'function') continue;
      if (!first) out.push(',');
      first = false;
      out.push(JSON.stringify(k), ':');
      write(x, out, `${path}/${k}`);
    }
    out.push('}');
  } else {
    throw new S2IError('ERR_JSON_INVALID', `cannot serialise a ${typeof v} at ${path || '/'}`);
  }
}

/** Canonical JSON text of `value` (see file comment). */
export function canonicalJson(value: unknown): string {
  const out: string[] = [];
  write(value, out, '');
  return out.join('');
}
