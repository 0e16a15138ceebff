// Glob patterns with Go's filepath.Match semantics (what s2i's .s2iignore uses): `*` and `?` never cross `/`,
// `[...]` classes with ranges and `^` negation, `\` escapes. Extension: `**` as a whole path segment matches
// any number of segments (in Go it would act like `*`, so every Go match still matches).

import { S2IError } from '../errors.js';

function escapeRe(c: string): string {
  return /[\\^$.*+?()[\]{}|/-]/.test(c) ? '\\' + c : c;
}

/** Compile one pattern to an anchored RegExp over a `/`-separated relative path. */
export function globToRegExp(pattern: string): RegExp {
  let re = '';
  const segs = pattern.split('/');
  segs.forEach((seg, si) => {
    const last = si === segs.length - 1;
    if (seg === '**') {
      // `a/**/b` → a/(any/)*b ; trailing `a/**` → a/anything ; lone `**` → anything
      re += last ? (segs.length === 1 ? '.*' : '.*') : '(?:[^/]+/)*';
      return;
    }
    re += segmentToRe(seg, pattern);
    if (!last) re += '/';
  });
  return new RegExp('^' + re + '$', 's');
}

function segmentToRe(seg: string, whole: string): string {
  let re = '';
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i]!;
    if (c === '*') {
      while (seg[i + 1] === '*') i++;
      re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '\\') {
      const n = seg[i + 1];
      if (n === undefined) throw badPattern(whole, 'ends with a lone backslash');
      re += escapeRe(n);
      i++;
    } else if (c === '[') {
      let j = i + 1;
      let cls = '';
      if (seg[j] === '^') {
        cls += '^';
        j++;
      }
      let count = 0;
      for (;;) {
        const d = seg[j];
        if (d === undefined) throw badPattern(whole, 'has an unclosed "["');
        if (d === ']' && count > 0) break;
        let lo = d;
        if (d === '\\') {
          const e = seg[j + 1];
          if (e === undefined) throw badPattern(whole, 'ends with a lone backslash');
          lo = e;
          j++;
        }
        j++;
        cls += escapeRe(lo);
        if (seg[j] === '-' && seg[j + 1] !== undefined && seg[j + 1] !== ']') {
          let hi = seg[j + 1]!;
          j += 2;
          if (hi === '\\') {
            const e = seg[j];
            if (e === undefined) throw badPattern(whole, 'ends with a lone backslash');
            hi = e;
            j++;
          }
          if (hi < lo) throw badPattern(whole, `has the reversed range ${lo}-${hi}`);
          cls += '-' + escapeRe(hi);
        }
        count++;
      }
      // Go classes never match the separator, negated or not.
      re += cls.startsWith('^') ? `(?:(?!/)[${cls}])` : `[${cls}]`;
      i = j;
    } else re += escapeRe(c);
  }
  return re;
}

function badPattern(p: string, why: string): S2IError {
  return new S2IError('ERR_S2IIGNORE_SYNTAX', `pattern "${p}" ${why}`);
}
