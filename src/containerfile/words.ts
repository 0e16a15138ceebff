// Word splitting and variable substitution with Docker's rules (moby/buildkit frontend/dockerfile/parser
// parseWords and shell/lex.go ProcessWord). Pure: no I/O.
//
// - splitWords keeps quotes and escapes in the words (they are removed by expandWord), so `a="b c" d` is two words.
// - expandWord: `'…'` literal; `"…"` with `$` expansion and escapes of `"`, `$` and the escape char only; the escape
//   char outside quotes makes the next char literal; `$VAR`, `${VAR}`, `${VAR:-w}`, `${VAR-w}`, `${VAR:+w}`,
//   `${VAR+w}`, `${VAR:?msg}`, `${VAR?msg}`; unset variables expand to "".

export class WordError extends Error {
  override readonly name = 'WordError';
}

const isSpace = (c: string): boolean => c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v';

/** Docker's parseWords: whitespace-separated words, quotes and escapes kept (quoted empty strings are words). */
export function splitWords(rest: string, escape = '\\'): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote = '';
  let blankOK = false;
  const chars = [...rest];
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (quote) {
      if (ch === quote) quote = '';
      else if (ch === escape && quote !== "'") {
        if (i + 1 === chars.length) continue;
        word += ch;
        i++;
        word += chars[i]!;
        continue;
      }
      word += ch;
      continue;
    }
    if (!inWord) {
      if (isSpace(ch)) continue;
      inWord = true;
    }
    if (isSpace(ch)) {
      if (blankOK || word.length > 0) words.push(word);
      word = '';
      blankOK = false;
      inWord = false;
      continue;
    }
    if (ch === "'" || ch === '"') {
      quote = ch;
      blankOK = true;
    }
    if (ch === escape) {
      if (i + 1 === chars.length) continue;
      word += ch;
      i++;
      word += chars[i]!;
      continue;
    }
    word += ch;
  }
  if (inWord && (blankOK || word.length > 0)) words.push(word);
  return words;
}

export type Lookup = (name: string) => string | undefined;

/** Expands one word: quotes removed, variables substituted, escapes applied. Throws WordError on bad syntax. */
export function expandWord(word: string, lookup: Lookup, escape = '\\'): string {
  const lx = new Lexer([...word], lookup, escape);
  const out = lx.until(undefined);
  return out;
}

class Lexer {
  pos = 0;
  constructor(
    private readonly s: string[],
    private readonly lookup: Lookup,
    private readonly escape: string,
  ) {}

  private peek(): string | undefined {
    return this.s[this.pos];
  }

  /** Reads up to (not including) `stop` at the top level, or to the end. */
  until(stop: string | undefined): string {
    let out = '';
    while (this.pos < this.s.length) {
      const ch = this.s[this.pos]!;
      if (stop !== undefined && ch === stop) return out;
      if (ch === "'") {
        this.pos++;
        out += this.singleQuoted();
      } else if (ch === '"') {
        this.pos++;
        out += this.doubleQuoted();
      } else if (ch === '$') {
        this.pos++;
        out += this.dollar();
      } else if (ch === this.escape) {
        this.pos++;
        if (this.pos < this.s.length) out += this.s[this.pos++]!;
      } else {
        out += ch;
        this.pos++;
      }
    }
    if (stop !== undefined) throw new WordError(`missing "${stop}"`);
    return out;
  }

  private singleQuoted(): string {
    let out = '';
    while (this.pos < this.s.length) {
      const ch = this.s[this.pos++]!;
      if (ch === "'") return out;
      out += ch;
    }
    throw new WordError('unexpected end of text: missing closing single quote');
  }

  private doubleQuoted(): string {
    let out = '';
    while (this.pos < this.s.length) {
      const ch = this.s[this.pos]!;
      if (ch === '"') {
        this.pos++;
        return out;
      }
      if (ch === '$') {
        this.pos++;
        out += this.dollar();
        continue;
      }
      this.pos++;
      if (ch === this.escape) {
        const n = this.peek();
        if (n === undefined) continue;
        if (n === '"' || n === '$' || n === this.escape) {
          out += n;
          this.pos++;
          continue;
        }
      }
      out += ch;
    }
    throw new WordError('unexpected end of text: missing closing double quote');
  }

  private name(): string {
    let n = '';
    const first = this.peek();
    if (first !== undefined && /[0-9]/.test(first)) {
      this.pos++;
      return first;
    }
    while (this.pos < this.s.length && /[A-Za-z0-9_]/.test(this.s[this.pos]!)) n += this.s[this.pos++]!;
    return n;
  }

  private dollar(): string {
    if (this.peek() !== '{') {
      const n = this.name();
      return n === '' ? '$' : (this.lookup(n) ?? '');
    }
    this.pos++;
    const n = this.name();
    if (n === '') throw new WordError('bad substitution: "${" must be followed by a variable name');
    const c = this.peek();
    if (c === undefined) throw new WordError('missing "}"');
    if (c === '}') {
      this.pos++;
      return this.lookup(n) ?? '';
    }
    let colon = false;
    let op: string | undefined = c;
    if (c === ':') {
      colon = true;
      this.pos++;
      op = this.peek();
    }
    if (op !== '-' && op !== '+' && op !== '?') {
      throw new WordError(`unsupported modifier "${colon ? ':' : ''}${op ?? ''}" in \${${n}…}: use \${${n}}, \${${n}:-default} or \${${n}:+alternative}`);
    }
    this.pos++;
    const w = this.until('}');
    this.pos++; // the "}"
    const value = this.lookup(n);
    const set = colon ? value !== undefined && value !== '' : value !== undefined;
    switch (op) {
      case '-':
        return set ? value! : w;
      case '+':
        return set ? w : '';
      default:
        if (!set) throw new WordError(`${n}: ${w === '' ? 'is not set' : w}`);
        return value!;
    }
  }
}
