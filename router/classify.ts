// Classifies SQL text (one or more statements) for routing, with an LRU cache keyed by the literal-free text.

import { loadModule, parseSync, scanSync } from 'libpg-query';
import type { Classification, Hint, TxEffect } from './classification.js';
import { FunctionRules, type FunctionRulesOptions } from './function-rules.js';
import { GenerationalCache } from './generational-cache.js';
import { normalizeSql } from './normalize.js';
import { parseProxySetting } from './proxy-setting.js';
import type { KeywordCheck } from './setting-values.js';
import { classifyStatement, type StatementContext, type StatementVerdict } from './statement-classifier.js';

export type {
  Classification,
  Hint,
  PinReason,
  Reason,
  SettingChange,
  Target,
  TxEffect,
} from './classification.js';

export interface ClassifierOptions extends FunctionRulesOptions {
  /** Entries in each of the two LRU caches (normalized text; exact text of literal-sensitive SQL). */
  cacheSize?: number;
}

export const DEFAULT_CLASSIFIER_CACHE_SIZE = 10_000;

/** Cache marker: the classification depends on literal values, look the exact text up instead. */
const LITERAL_SENSITIVE: Readonly<Record<string, never>> = Object.freeze({});

type CacheEntry = Classification | typeof LITERAL_SENSITIVE;

/** How a proxy-handled `SET pgroute.x TO word` is routed: like any other SET of a tracked setting. */
const SET_VERDICT: StatementVerdict = {
  target: 'any',
  reason: 'session-setting',
  tx: null,
  pin: null,
  settings: [],
  isReadOnlyBlockSafe: true,
  isLiteralSensitive: false,
};

const HINT_STRENGTH: Readonly<Record<Hint, number>> = { any: 0, standby: 1, primary: 2 };

function freezeClassification(result: Classification): Classification {
  for (const effect of result.txEffects) if (effect !== null) Object.freeze(effect);
  for (const change of result.settings) Object.freeze(change);
  Object.freeze(result.txEffects);
  Object.freeze(result.settings);
  return Object.freeze(result);
}

function emptyClassification(): Classification {
  return freezeClassification({
    target: 'any',
    reason: 'empty',
    tx: null,
    txEffects: [],
    pin: null,
    settings: [],
    hint: null,
    statementCount: 0,
    isReadOnlyBlockSafe: true,
  });
}

function parseErrorClassification(): Classification {
  return freezeClassification({
    target: 'primary',
    reason: 'parse-error',
    tx: null,
    txEffects: [],
    pin: null,
    settings: [],
    hint: null,
    statementCount: 0,
    isReadOnlyBlockSafe: false,
  });
}

/** Multi-statement rules: primary if any statement needs it; first pin; every tx effect in order. */
function combineVerdicts(verdicts: StatementVerdict[]): Classification {
  const primary = verdicts.find((v) => v.target === 'primary');
  const txEffects: TxEffect[] = verdicts.map((v) => v.tx);
  const lastTx = txEffects.filter((effect) => effect !== null).pop() ?? null;
  return freezeClassification({
    target: primary === undefined ? 'any' : 'primary',
    reason: (primary ?? verdicts[0])?.reason ?? 'empty',
    tx: lastTx,
    txEffects,
    pin: verdicts.find((v) => v.pin !== null)?.pin ?? null,
    settings: verdicts.flatMap((v) => v.settings),
    hint: null,
    statementCount: verdicts.length,
    isReadOnlyBlockSafe: verdicts.every((v) => v.isReadOnlyBlockSafe),
  });
}

/** Hints never send a write to a standby: standby only relabels statements that could go anywhere. */
function applyHints(base: Classification, hints: Hint[]): Classification {
  let hint: Hint = 'any';
  for (const h of hints) if (HINT_STRENGTH[h] > HINT_STRENGTH[hint]) hint = h;
  if (base.target === 'any' && hint === 'primary') {
    return { ...base, target: 'primary', reason: 'hint-primary', hint };
  }
  if (base.target === 'any' && hint === 'standby') return { ...base, reason: 'hint-standby', hint };
  return { ...base, hint };
}

/** Distinct prepared texts remembered verbatim, and the longest one worth remembering (bytes of memory bound). */
const PREPARED_CACHE_SIZE = 1024;
const PREPARED_TEXT_LIMIT = 4096;

/** A caller's last classification by normalised text (see Classifier.classify). */
export interface ClassifyMemo {
  key: string | null;
  base: Classification | null;
  epoch: number;
  /** The literal spans of the text classified last (normalizeSql's triples). */
  spans: number[];
  /**
   * True when the last answer holds for every text with the same normalised key (it came from, or
   * went into, this memo), so the caller may reuse it for such texts: see QueryShape.
   */
  isShared: boolean;
}

export class Classifier {
  /** Classifications answered from a cache. */
  cacheHits = 0;
  /** Classifications that needed a parse (parse errors included: they are never cached). */
  cacheMisses = 0;
  /** Bumped by clearCache: answers given before may no longer hold. */
  epoch = 0;

  private readonly byKey: GenerationalCache<string, CacheEntry>;
  /** Prepared statement texts, verbatim (see classifyPrepared). */
  private readonly prepared: GenerationalCache<string, Classification>;
  private readonly byText: GenerationalCache<string, Classification>;
  private readonly context: StatementContext;
  private readonly empty = emptyClassification();
  private readonly parseError = parseErrorClassification();

  /** Loads the libpg-query WASM module (once per process), then builds a classifier. */
  static async create(opts: ClassifierOptions = {}): Promise<Classifier> {
    await loadModule();
    return new Classifier(opts);
  }

  private constructor(opts: ClassifierOptions) {
    const max = opts.cacheSize ?? DEFAULT_CLASSIFIER_CACHE_SIZE;
    this.byKey = new GenerationalCache(max);
    this.byText = new GenerationalCache(max);
    this.prepared = new GenerationalCache(PREPARED_CACHE_SIZE);
    const isKeyword: KeywordCheck = (word) => (scanSync(word).tokens?.[0]?.keywordKind ?? 0) >= 2;
    this.context = { functions: new FunctionRules(opts), isKeyword };
  }

  /**
   * `memo`, when given, belongs to one caller (a client session) and remembers its last normalised
   * statement: a session that repeats a statement with other literals is answered by comparing the
   * normalised text with the previous one, without hashing it into the shared cache.
   */
  classify(sql: string, memo?: ClassifyMemo): Classification {
    const { key, hints } = normalizeSql(sql, memo?.spans);
    let base: Classification | undefined;
    if (memo !== undefined && memo.key === key && memo.epoch === this.epoch) {
      base = memo.base!;
      this.cacheHits++;
      memo.isShared = true;
      return hints.length === 0 ? base : applyHints(base, hints);
    }
    const entry = this.byKey.get(key);
    const cached = entry === LITERAL_SENSITIVE ? undefined : (entry as Classification | undefined);
    if (entry === LITERAL_SENSITIVE) base = this.byText.get(sql);
    else base = cached;
    if (base !== undefined) this.cacheHits++;
    else {
      this.cacheMisses++;
      base = this.classifyUncached(sql, key);
    }
    // Only a cached answer that holds for every text with this key (not one that depends on the
    // literals); a fresh one is remembered the next time, once the cache has it.
    if (memo !== undefined) {
      memo.isShared = cached !== undefined;
      if (cached !== undefined) {
        memo.key = key;
        memo.base = cached;
        memo.epoch = this.epoch;
      }
    }
    return hints.length === 0 ? base : applyHints(base, hints);
  }

  /**
   * The text of a Parse. Drivers send the same parameterised text again and again, so it is looked
   * up verbatim before any normalisation; simple-protocol queries carry literals that differ every
   * time and go through classify() alone.
   */
  classifyPrepared(sql: string): Classification {
    const known = this.prepared.get(sql);
    if (known !== undefined) {
      this.cacheHits++;
      return known;
    }
    const result = this.classify(sql);
    if (result !== this.parseError && sql.length <= PREPARED_TEXT_LIMIT) this.prepared.set(sql, result);
    return result;
  }

  /** Forgets every cached classification (call when the function catalog changes). */
  clearCache(): void {
    this.epoch++;
    this.prepared.clear();
    this.byKey.clear();
    this.byText.clear();
  }

  private classifyUncached(sql: string, key: string): Classification {
    if (key === '') {
      this.byKey.set(key, this.empty);
      return this.empty;
    }
    let stmts: ReturnType<typeof parseSync>['stmts'];
    try {
      stmts = parseSync(sql).stmts ?? [];
    } catch {
      const proxySetting = parseProxySetting(key);
      if (proxySetting === null) return this.parseError; // not cached: must not poison a well-formed key
      const result = combineVerdicts([
        { ...SET_VERDICT, settings: [proxySetting], isLiteralSensitive: false },
      ]);
      this.byKey.set(key, result);
      return result;
    }
    const verdicts = stmts.flatMap((raw) =>
      raw.stmt === undefined ? [] : [classifyStatement(raw.stmt, this.context)],
    );
    const result = verdicts.length === 0 ? this.empty : combineVerdicts(verdicts);
    if (verdicts.some((v) => v.isLiteralSensitive)) {
      this.byKey.set(key, LITERAL_SENSITIVE);
      this.byText.set(sql, result);
    } else this.byKey.set(key, result);
    return result;
  }
}
