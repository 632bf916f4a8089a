// Turns SQL text into a literal-free cache key (plus leading pgroute hints) with one hand-written pass.
//
// Two statements share a key only when they differ in the *contents* of literals, in the amount or
// kind of whitespace, or in comments. Identifiers, keywords, operators and parameters ($1) are kept
// byte for byte, so the classification of one statement is valid for every statement with its key.
// The lexing rules mirror PostgreSQL's scanner (src/backend/parser/scan.l, PostgreSQL 18) with
// standard_conforming_strings = on, the only mode libpg-query parses in:
//   https://www.postgresql.org/docs/current/sql-syntax-lexical.html
//
// Placeholders are `?` followed by a class letter, because the class changes how the grammar sees the
// token: `?i` integer that fits int4 (ICONST: `FETCH 10 c` parses, `FETCH 3000000000 c` does not),
// `?n` other numeric (FCONST), `?s` '...' / N'...', `?e` E'...', `?b` B'...', `?x` X'...',
// `?d` $tag$...$tag$. A `?` written in the SQL (jsonb operators) is emitted as `??`, so no input text
// can spell a placeholder. Tokens whose contents can make PostgreSQL's *lexer* fail are kept verbatim:
// numbers with trailing junk (`1abc`, `0b12`, `1__0`), E'' strings with octal/hex/unicode escapes,
// U&'' strings and the string after UESCAPE, and anything unterminated.

export type Hint = 'primary' | 'standby' | 'any';

/**
 * Kinds of the literal spans `normalizeSql` reports: a plain integer that fits int4 (`?i`), a plain
 * '...' string (`?s`, also the string of N'...'), and every other placeholder.
 */
export const SPAN_OTHER = 0;
export const SPAN_INTEGER = 1;
export const SPAN_STRING = 2;

export interface NormalizedSql {
  /** Cache key: literals replaced by placeholders, comments dropped, whitespace folded and trimmed. */
  key: string;
  /** `pgroute:` hints found in comments before the first token, in order. */
  hints: Hint[];
}

const QUOTE = 39; // '
const DQUOTE = 34; // "
const DOLLAR = 36; // $
const QMARK = 63; // ?
const DOT = 46;
const DASH = 45;
const SLASH = 47;
const STAR = 42;
const BACKSLASH = 92;
const UNDERSCORE = 95;
const NL = 10;
const CR = 13;
const INT4_MAX_TEXT = '2147483647';

type StringKind = 's' | 'e' | 'b' | 'x' | 'u';

/** Scanner classes from scan.l: ident_start [A-Za-z\200-\377_], ident_cont adds [0-9$]. */
function isIdentStart(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === UNDERSCORE || c >= 128;
}

function isIdentCont(c: number): boolean {
  return isIdentStart(c) || (c >= 48 && c <= 57) || c === DOLLAR;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** scan.l `space`: [ \t\n\r\f\v]. */
export function isSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13);
}

function isHorizSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 11 || c === 12;
}

function isNewline(c: number): boolean {
  return c === NL || c === CR;
}

function isRadixDigit(c: number, radix: number): boolean {
  if (radix === 16) return isDigit(c) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
  if (radix === 8) return c >= 48 && c <= 55;
  return c === 48 || c === 49;
}

/** End of `{decinteger}` = digit(_?digit)* starting at a digit. */
function scanDecInteger(sql: string, i: number): number {
  let j = i + 1;
  for (;;) {
    const c = sql.charCodeAt(j);
    if (isDigit(c)) j++;
    else if (c === UNDERSCORE && isDigit(sql.charCodeAt(j + 1))) j += 2;
    else return j;
  }
}

function fitsInt4(digits: string): boolean {
  let text = digits.includes('_') ? digits.replaceAll('_', '') : digits;
  if (text.length >= 10) text = text.replace(/^0+(?=.)/, '');
  if (text.length !== 10) return text.length < 10;
  return text <= INT4_MAX_TEXT;
}

interface NumberToken {
  end: number;
  /** 'i' / 'n' placeholder class, or null when PostgreSQL's lexer rejects the token (keep it verbatim). */
  kind: 'i' | 'n' | null;
}

/** Numeric literal at `i` (a digit, or '.' followed by a digit), per the scan.l number rules. */
function scanNumber(sql: string, i: number): NumberToken {
  const c0 = sql.charCodeAt(i);
  const c1 = sql.charCodeAt(i + 1) | 32;
  if (c0 === 48 && (c1 === 120 || c1 === 111 || c1 === 98)) {
    const radix = c1 === 120 ? 16 : c1 === 111 ? 8 : 2;
    let j = i + 2;
    for (;;) {
      const c = sql.charCodeAt(j);
      if (isRadixDigit(c, radix)) j++;
      else if (c === UNDERSCORE && isRadixDigit(sql.charCodeAt(j + 1), radix)) j += 2;
      else break;
    }
    // hexfail/octfail/binfail and *_junk rules are errors.
    if (j === i + 2 || isIdentCont(sql.charCodeAt(j))) return { end: j, kind: null };
    const value = Number.parseInt(sql.slice(i + 2, j).replaceAll('_', ''), radix);
    return { end: j, kind: value <= 2147483647 ? 'i' : 'n' };
  }
  let j = c0 === DOT ? i : scanDecInteger(sql, i);
  let isInteger = true;
  if (sql.charCodeAt(j) === DOT && !(c0 !== DOT && sql.charCodeAt(j + 1) === DOT)) {
    // `{decinteger}\.\.` (numericfail) leaves "1" an integer so "1..2" lexes as in PL/pgSQL.
    isInteger = false;
    j++;
    if (isDigit(sql.charCodeAt(j))) j = scanDecInteger(sql, j);
  }
  const e = sql.charCodeAt(j) | 32;
  if (e === 101) {
    let k = j + 1;
    const sign = sql.charCodeAt(k);
    if (sign === 43 || sign === DASH) k++;
    if (!isDigit(sql.charCodeAt(k))) return { end: k, kind: null }; // realfail or junk
    j = scanDecInteger(sql, k);
    isInteger = false;
  }
  if (isIdentCont(sql.charCodeAt(j))) return { end: j, kind: null };
  // Fewer than ten characters cannot exceed int4 (underscores only make the number shorter): no slice.
  return { end: j, kind: isInteger && (j - i < 10 || fitsInt4(sql.slice(i, j))) ? 'i' : 'n' };
}

/**
 * After a closing quote at `p - 1`: if the string continues (scan.l `quotecontinue`: whitespace with at
 * least one newline, `--` comments allowed, then a quote), the index of that quote, else -1.
 */
function findContinuation(sql: string, p: number): number {
  const n = sql.length;
  let k = p;
  while (k < n) {
    const c = sql.charCodeAt(k);
    if (isHorizSpace(c)) k++;
    else if (c === DASH && sql.charCodeAt(k + 1) === DASH) {
      k += 2;
      while (k < n && !isNewline(sql.charCodeAt(k))) k++;
    } else break;
  }
  if (!isNewline(sql.charCodeAt(k))) return -1;
  k++;
  while (k < n) {
    const c = sql.charCodeAt(k);
    if (isSpace(c)) k++;
    else if (c === DASH && sql.charCodeAt(k + 1) === DASH) {
      let m = k + 2;
      while (m < n && !isNewline(sql.charCodeAt(m))) m++;
      if (m >= n) break; // a comment that never ends its line is not special_whitespace
      k = m + 1;
    } else break;
  }
  return sql.charCodeAt(k) === QUOTE ? k : -1;
}

interface StringToken {
  /** Index after the token, or -1 when unterminated. */
  end: number;
  /** false when the contents can make the lexer fail (E'' octal/hex/unicode escapes). */
  isSafe: boolean;
}

/** A quoted string whose opening quote is at `q`, continuation segments included. */
function scanString(sql: string, q: number, kind: StringKind): StringToken {
  const n = sql.length;
  const hasDoubling = kind === 's' || kind === 'e' || kind === 'u';
  let isSafe = true;
  let j = q + 1;
  while (j < n) {
    const c = sql.charCodeAt(j);
    if (c === BACKSLASH && kind === 'e') {
      const esc = sql.charCodeAt(j + 1);
      if ((esc >= 48 && esc <= 55) || esc === 120 || esc === 117 || esc === 85) isSafe = false;
      j += 2;
    } else if (c === QUOTE) {
      if (hasDoubling && sql.charCodeAt(j + 1) === QUOTE) {
        j += 2;
        continue;
      }
      const next = findContinuation(sql, j + 1);
      if (next < 0) return { end: j + 1, isSafe };
      j = next + 1;
    } else j++;
  }
  return { end: -1, isSafe };
}

/** `$tag$` / `$$` opening delimiter at `i`, or null (scan.l dolqdelim; a tag has no `$` or digit first). */
function readDollarDelimiter(sql: string, i: number): string | null {
  let k = i + 1;
  const first = sql.charCodeAt(k);
  if (first !== DOLLAR) {
    if (!isIdentStart(first)) return null;
    k++;
    for (;;) {
      const c = sql.charCodeAt(k);
      if (isIdentStart(c) || isDigit(c)) k++;
      else break;
    }
    if (sql.charCodeAt(k) !== DOLLAR) return null;
  }
  return sql.slice(i, k + 1);
}

function parseHint(body: string): Hint | null {
  const text = body.trim().toLowerCase();
  if (!text.startsWith('pgroute:')) return null;
  const value = text.slice(8).trim();
  return value === 'primary' || value === 'standby' || value === 'any' ? value : null;
}

/** End of a `/* ... *\/` comment at `i` (nesting allowed, as in PostgreSQL), or -1 when unterminated. */
function scanBlockComment(sql: string, i: number): number {
  const n = sql.length;
  let depth = 1;
  let j = i + 2;
  while (j < n) {
    const c = sql.charCodeAt(j);
    if (c === SLASH && sql.charCodeAt(j + 1) === STAR) {
      depth++;
      j += 2;
    } else if (c === STAR && sql.charCodeAt(j + 1) === SLASH) {
      j += 2;
      if (--depth === 0) return j;
    } else j++;
  }
  return -1;
}

function isCommentStart(sql: string, i: number): boolean {
  const c = sql.charCodeAt(i);
  const d = sql.charCodeAt(i + 1);
  return (c === DASH && d === DASH) || (c === SLASH && d === STAR);
}

/**
 * `spans`, when given, receives one (start, end, kind) triple per placeholder, in order: the range of
 * `sql` it replaced and one of the SPAN_ kinds. It is emptied first.
 */
export function normalizeSql(sql: string, spans?: number[]): NormalizedSql {
  const n = sql.length;
  if (spans !== undefined) spans.length = 0;
  const hints: Hint[] = [];
  // Placeholders are appended inline, not through a helper closure: a closure would move `out` and
  // `seg` into a heap-allocated context on every call, and this runs once per simple query.
  let out = '';
  let seg = 0; // start of text not yet copied to `out`
  let isLeading = true; // no token seen yet: hints are honoured, whitespace dropped
  let isKeepNextString = false; // the string after UESCAPE decides whether the lexer accepts U&''
  let i = 0;

  while (i < n) {
    const c = sql.charCodeAt(i);

    if (isSpace(c) || ((c === DASH || c === SLASH) && isCommentStart(sql, i))) {
      const nextCode = sql.charCodeAt(i + 1);
      if (c === 32 && !isLeading && i + 1 < n && !isSpace(nextCode) && !isCommentStart(sql, i + 1)) {
        i++; // a single plain space between tokens is already normal
        continue;
      }
      out += sql.slice(seg, i);
      let j = i;
      while (j < n) {
        const w = sql.charCodeAt(j);
        if (isSpace(w)) j++;
        else if (w === DASH && sql.charCodeAt(j + 1) === DASH) {
          let e = j + 2;
          while (e < n && !isNewline(sql.charCodeAt(e))) e++;
          if (isLeading) pushHint(hints, sql.slice(j + 2, e));
          j = e;
        } else if (w === SLASH && sql.charCodeAt(j + 1) === STAR) {
          const e = scanBlockComment(sql, j);
          if (e < 0) {
            // Unterminated comment: a lexer error, so keep the rest verbatim.
            return { key: (isLeading ? out : `${out} `) + sql.slice(j), hints };
          }
          if (isLeading) pushHint(hints, sql.slice(j + 2, e - 2));
          j = e;
        } else break;
      }
      if (!isLeading && j < n) out += ' ';
      seg = j;
      i = j;
      continue;
    }

    isLeading = false;

    if (c === QUOTE) {
      const s = scanString(sql, i, 's');
      if (s.end < 0) return { key: out + sql.slice(seg), hints };
      if (!isKeepNextString) {
        out += `${sql.slice(seg, i)}?s`;
        seg = s.end;
        spans?.push(i, s.end, SPAN_STRING);
      }
      isKeepNextString = false;
      i = s.end;
      continue;
    }
    isKeepNextString = false;

    if (isIdentStart(c)) {
      let j = i + 1;
      while (j < n && isIdentCont(sql.charCodeAt(j))) j++;
      const next = sql.charCodeAt(j);
      if (j === i + 1 && next === QUOTE) {
        const p = c | 32;
        const kind: StringKind | null =
          p === 101 ? 'e' : p === 98 ? 'b' : p === 120 ? 'x' : p === 110 ? 's' : null;
        if (kind !== null) {
          const s = scanString(sql, j, kind);
          if (s.end < 0) return { key: out + sql.slice(seg), hints };
          // N'..' is the NCHAR keyword followed by a plain string; the others are one token.
          if (s.isSafe) {
            out += `${sql.slice(seg, kind === 's' ? j : i)}?${kind}`;
            seg = s.end;
            if (kind === 's') spans?.push(j, s.end, SPAN_STRING);
            else spans?.push(i, s.end, SPAN_OTHER);
          }
          i = s.end;
          continue;
        }
      }
      if (j === i + 1 && (c | 32) === 117 && next === 38) {
        const q = sql.charCodeAt(j + 1);
        if (q === QUOTE || q === DQUOTE) {
          const end = q === QUOTE ? scanString(sql, j + 1, 'u').end : scanQuotedIdentifier(sql, j + 1);
          if (end < 0) return { key: out + sql.slice(seg), hints };
          i = end; // U& strings and identifiers stay verbatim: their escapes are checked by the lexer
          continue;
        }
      }
      if (j - i === 7 && sql.slice(i, j).toLowerCase() === 'uescape') isKeepNextString = true;
      i = j;
      continue;
    }

    if (isDigit(c) || (c === DOT && isDigit(sql.charCodeAt(i + 1)))) {
      const num = scanNumber(sql, i);
      if (num.kind !== null) {
        out += sql.slice(seg, i) + (num.kind === 'i' ? '?i' : '?n');
        spans?.push(i, num.end, num.kind === 'i' ? SPAN_INTEGER : SPAN_OTHER);
        seg = num.end;
        i = num.end;
      } else {
        // Rejected by the lexer ("trailing junk"): keep the whole run verbatim.
        i = num.end;
        while (i < n && isIdentCont(sql.charCodeAt(i))) i++;
      }
      continue;
    }

    if (c === DQUOTE) {
      const end = scanQuotedIdentifier(sql, i);
      if (end < 0) return { key: out + sql.slice(seg), hints };
      i = end;
      continue;
    }

    if (c === DOLLAR) {
      if (isDigit(sql.charCodeAt(i + 1))) {
        i = scanDecInteger(sql, i + 1); // $1 parameter: kept, it is not a literal
        continue;
      }
      const delimiter = readDollarDelimiter(sql, i);
      if (delimiter !== null) {
        const close = sql.indexOf(delimiter, i + delimiter.length);
        if (close < 0) return { key: out + sql.slice(seg), hints };
        out += `${sql.slice(seg, i)}?d`;
        seg = close + delimiter.length;
        spans?.push(i, seg, SPAN_OTHER);
        i = close + delimiter.length;
        continue;
      }
      i++;
      continue;
    }

    if (c === QMARK) {
      out += `${sql.slice(seg, i)}??`;
      seg = i + 1;
      i++;
      continue;
    }
    i++;
  }
  out += sql.slice(seg, n);
  return { key: out, hints };
}

function pushHint(hints: Hint[], body: string): void {
  const hint = parseHint(body);
  if (hint !== null) hints.push(hint);
}

/** End of a "quoted identifier" at `i` ("" is an escaped quote), or -1 when unterminated. */
function scanQuotedIdentifier(sql: string, i: number): number {
  let j = i + 1;
  for (;;) {
    const close = sql.indexOf('"', j);
    if (close < 0) return -1;
    if (sql.charCodeAt(close + 1) !== DQUOTE) return close + 1;
    j = close + 2;
  }
}
