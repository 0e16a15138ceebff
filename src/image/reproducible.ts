// The timestamp of a reproducible build (reproducible-builds.org/specs/source-date-epoch): `--timestamp T`
// wins over SOURCE_DATE_EPOCH. T is unix seconds or an RFC 3339 date-time; SOURCE_DATE_EPOCH is unix seconds
// only (the spec: "a decimal integer"). The result clamps file mtimes and fixes `created` and history.
import { S2IError } from '../errors.js';

/** Latest instant a config `created` can hold sensibly (year 9999), in unix seconds. */
const MAX_EPOCH = 253402300799;
const rfc3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

function bad(what: string, value: string, why: string): S2IError {
  return new S2IError('ERR_INVALID_TIMESTAMP', `invalid ${what} ${JSON.stringify(value.slice(0, 80))}: ${why}`);
}

function parseSeconds(what: string, v: string): number {
  if (!/^[0-9]{1,12}$/.test(v)) throw bad(what, v, 'expected unix seconds (a non-negative integer)');
  const n = Number(v);
  if (n > MAX_EPOCH) throw bad(what, v, 'it is after the year 9999');
  return n;
}

/** Parses `--timestamp`: unix seconds or RFC 3339 (e.g. 2024-01-01T00:00:00Z); fractional seconds are dropped. */
export function parseTimestamp(v: string, what = '--timestamp'): number {
  const s = v.trim();
  if (/^[0-9]+$/.test(s)) return parseSeconds(what, s);
  const m = rfc3339.exec(s);
  if (!m) throw bad(what, v, 'expected unix seconds or an RFC 3339 date-time such as 2024-01-01T00:00:00Z');
  const [, y, mo, d, h, mi, se] = m.map(Number) as number[];
  if (mo! < 1 || mo! > 12 || d! < 1 || d! > 31 || h! > 23 || mi! > 59 || se! > 60) throw bad(what, v, 'a date or time field is out of range');
  const ms = Date.parse(s.replace(' ', 'T'));
  if (!Number.isFinite(ms)) throw bad(what, v, 'not a real date');
  // Date.parse rolls 2023-02-30 over to March: refuse dates that do not exist.
  const check = new Date(Date.UTC(y!, mo! - 1, d!));
  if (check.getUTCDate() !== d) throw bad(what, v, 'that day does not exist');
  const secs = Math.floor(ms / 1000);
  if (secs < 0) throw bad(what, v, 'it is before 1970');
  if (secs > MAX_EPOCH) throw bad(what, v, 'it is after the year 9999');
  return secs;
}

/**
 * The build timestamp in unix seconds: `flag` (--timestamp) if given, else SOURCE_DATE_EPOCH if set and
 * non-empty, else undefined (not reproducible: use the current time).
 */
export function sourceDateEpoch(env: NodeJS.ProcessEnv = process.env, flag?: string): number | undefined {
  if (flag !== undefined) return parseTimestamp(flag);
  const v = env.SOURCE_DATE_EPOCH;
  if (v === undefined || v === '') return undefined;
  return parseSeconds('SOURCE_DATE_EPOCH', v.trim());
}

/** RFC 3339 UTC with whole seconds, as config `created` and history entries carry it. */
export function epochToRfc3339(secs: number): string {
  return new Date(secs * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
