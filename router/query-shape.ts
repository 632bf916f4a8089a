// Recognises, from its bytes alone, a Query that differs from the session's previous one only inside
// its literals, so the previous classification answers it without decoding or normalising the text.

import { SPAN_INTEGER, SPAN_STRING } from './normalize.js';
import { RecentList } from './recent-list.js';

const HEADER = 5; // type byte + int32 length
const QUOTE = 39;

/** Previous texts longer than this are not kept (a copy per session). */
export const QUERY_SHAPE_LIMIT = 4096;

/** Longest integer literal accepted: nine digits always fit int4, so the `?i` class cannot change. */
const MAX_INT_DIGITS = 9;

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/**
 * The previous Query's text and where its literals were. A new text matches when every byte outside
 * the literals is the same and each literal is, again, a plain integer of at most nine digits or a
 * plain '...' string. Both then normalise to the same key: the lexer reads the same bytes up to each
 * literal, the literal is one token of the same class, and the bytes after it (where the lexer's
 * look-ahead for string continuations and number suffixes happens) are the same as before.
 *
 * Only texts that are all ASCII are remembered, so string offsets are byte offsets; the literals of
 * a new text may hold any bytes but NUL.
 */
export class QueryShape<T> {
  /** SQL bytes of the previous Query (no header, no terminating NUL). */
  private text: Buffer | null = null;
  /** (start, end) pairs of its literals in `text`, and their kinds. */
  private bounds: number[] = [];
  private kinds: number[] = [];
  private result: T | null = null;
  private epoch = -1;

  /** The remembered answer if `msg` (a whole Query message) has the remembered shape, else null. */
  match(msg: Buffer, epoch: number): T | null {
    const text = this.text;
    if (text === null || epoch !== this.epoch) return null;
    const end = msg.length - 1; // the terminating NUL
    if (msg[end] !== 0) return null;
    const bounds = this.bounds;
    let p = HEADER; // position in msg
    let q = 0; // position in text
    for (let k = 0; k < this.kinds.length; k++) {
      const start = bounds[2 * k]!;
      // The fixed bytes before this literal.
      if (p + (start - q) > end || !sameBytes(msg, p, text, q, start)) return null;
      p += start - q;
      const after = this.kinds[k] === SPAN_INTEGER ? scanInteger(msg, p, end) : scanString(msg, p, end);
      if (after < 0) return null;
      p = after;
      q = bounds[2 * k + 1]!;
    }
    if (end - p !== text.length - q || !sameBytes(msg, p, text, q, text.length)) return null;
    return this.result;
  }

  /**
   * Remember `msg` (whose text, decoded, is `sql`) and the literal spans normalizeSql reported for
   * it, with the answer to give texts of the same shape. Texts with other literal kinds, non-ASCII
   * bytes or over the size limit are not remembered (and the previous shape is forgotten).
   */
  remember(msg: Buffer, sql: string, spans: readonly number[], result: T, epoch: number): void {
    const length = msg.length - HEADER - 1;
    this.clear();
    // Equal lengths: every character was one byte, ASCII (and the text had no embedded NUL).
    if (length !== sql.length || length > QUERY_SHAPE_LIMIT) return;
    const bounds: number[] = [];
    const kinds: number[] = [];
    for (let i = 0; i < spans.length; i += 3) {
      const kind = spans[i + 2]!;
      if (kind !== SPAN_INTEGER && kind !== SPAN_STRING) return;
      bounds.push(spans[i]!, spans[i + 1]!);
      kinds.push(kind);
    }
    this.text = Buffer.from(msg.subarray(HEADER, HEADER + length));
    this.bounds = bounds;
    this.kinds = kinds;
    this.result = result;
    this.epoch = epoch;
  }

  /** Forget the remembered text (the classification it answered with may be stale). */
  clear(): void {
    this.text = null;
    this.result = null;
  }

  get isRemembered(): boolean {
    return this.text !== null;
  }

  /** Bytes of the remembered text (0 when nothing is remembered). */
  get byteLength(): number {
    return this.text === null ? 0 : this.text.length;
  }
}

/** Shapes a session keeps at most. */
export const QUERY_SHAPES_MAX = 16;

/**
 * A session's recent Query shapes, most recently matched first. Applications cycle through a few
 * statements (pgbench's TPC-B-like script sends seven per transaction, eleven shapes since a
 * negative literal's minus sign is fixed text), and one remembered shape then misses on every one
 * of them: each is decoded, searched for `pgroute.`, normalised and hashed into the shared cache
 * again. Sixteen shapes cover such a cycle (a cycle longer than the capacity would miss every time
 * under least-recently-used eviction); their texts together stay within QUERY_SHAPE_LIMIT bytes, the
 * memory one shape was allowed, so a session costs no more than before.
 */
export class QueryShapes<T> {
  private readonly recent = new RecentList<QueryShape<T>>(
    QUERY_SHAPES_MAX,
    QUERY_SHAPE_LIMIT,
    (shape) => shape.byteLength,
  );

  /** The answer remembered for `msg`'s shape, if any (see QueryShape.match). */
  match(msg: Buffer, epoch: number): T | null {
    const shapes = this.recent.items;
    for (let i = 0; i < shapes.length; i++) {
      const result = shapes[i]!.match(msg, epoch);
      if (result === null) continue;
      this.recent.promote(i);
      return result;
    }
    return null;
  }

  /** Remember one more shape (see QueryShape.remember), dropping the least recently matched to fit. */
  remember(msg: Buffer, sql: string, spans: readonly number[], result: T, epoch: number): void {
    const shape = new QueryShape<T>();
    shape.remember(msg, sql, spans, result, epoch);
    if (shape.isRemembered) this.recent.add(shape);
  }

  get size(): number {
    return this.recent.size;
  }
}

/** a[p, p + (bEnd - q)) equals b[q, bEnd). A loop: the ranges are short, a native compare costs more. */
function sameBytes(a: Buffer, p: number, b: Buffer, q: number, bEnd: number): boolean {
  for (let i = q; i < bEnd; i++, p++) if (a[p] !== b[i]) return false;
  return true;
}

/**
 * End of a plain integer of 1 to 9 digits at `p`, or -1. The byte after it needs no check of its own:
 * it is compared as the first of the next fixed bytes (or must be the end), and the previous text's
 * lexer ended an integer before that same byte.
 */
function scanInteger(msg: Buffer, p: number, end: number): number {
  let j = p;
  while (j < end && isDigit(msg[j]!)) j++;
  const digits = j - p;
  return digits === 0 || digits > MAX_INT_DIGITS ? -1 : j;
}

/** End of a '...' string at `p` ('' is an escaped quote), -1 when there is none or it holds a NUL. */
function scanString(msg: Buffer, p: number, end: number): number {
  if (msg[p] !== QUOTE) return -1;
  let j = p + 1;
  while (j < end) {
    const c = msg[j]!;
    if (c === 0) return -1;
    if (c === QUOTE) {
      if (msg[j + 1] === QUOTE && j + 1 < end) {
        j += 2;
        continue;
      }
      return j + 1;
    }
    j++;
  }
  return -1;
}
