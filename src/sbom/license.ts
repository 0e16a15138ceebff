// Licenses as the databases state them are often not SPDX expressions (rpm's "GPLv2+", dpkg has none): a
// document carries an SPDX expression only when it parses as one (spdx-expression-parse, the SPDX license list
// and exceptions), and the database's own words otherwise, where the format has a place for them.
import parseSpdx from 'spdx-expression-parse';

export function spdxExpression(raw: string | undefined): string | undefined {
  if (raw === undefined || raw.length > 1000) return undefined;
  const s = raw.trim();
  if (s === '') return undefined;
  try {
    parseSpdx(s);
    return s;
  } catch {
    return undefined;
  }
}

/** Whether an expression is one license id (no operators, no parentheses). */
export function isSingleId(expr: string): boolean {
  return /^[A-Za-z0-9.+-]+$/.test(expr);
}
