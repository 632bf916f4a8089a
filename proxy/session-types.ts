// Types shared by the client session and the parts it depends on (router, classifier), without their implementations.

import type { ClassifyMemo } from '../router/classify.js';

/** A session setting changed by SET/RESET (null value = RESET); names lower-case. */
export interface SettingChange {
  name: string;
  value: string | null;
  isLocal: boolean;
}

/** What the session needs to know about one statement (a subset of the router's classification). */
export interface StatementInfo {
  target: 'primary' | 'any';
  reason: string;
  pin: string | null;
  settings: readonly SettingChange[];
  hint: 'primary' | 'standby' | 'any' | null;
  txEffects: readonly ({ kind: string; readOnly?: boolean | null } | null)[];
  statementCount?: number;
}

export interface StatementClassifier {
  /** `memo`: the caller's own memory of its last statement (see Classifier.classify). */
  classify(sql: string, memo?: ClassifyMemo): StatementInfo;
  /** The same for the text of a Parse, which repeats verbatim. */
  classifyPrepared(sql: string): StatementInfo;
  /** Changes whenever an earlier answer may no longer hold (the function catalog changed). */
  readonly epoch: number;
}

/** Reported parameters a client may change with SET and that we can replay with set_config. */
export const TRACKED_REPORTED = new Set([
  'application_name',
  'client_encoding',
  'datestyle',
  'intervalstyle',
  'timezone',
  'standard_conforming_strings',
  'default_transaction_read_only',
]);

/** Pin reasons that survive a change of server connection only by staying on it. */
export const PINNING = new Set([
  'listen',
  'sql-prepare',
  'temp-table',
  'advisory-lock',
  'cursor-with-hold',
  'set-role',
  'set-session-authorization',
  'load',
]);
