// Keeps the README's configuration reference in step with config.ts: every key documented, no key invented.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configKeyPaths } from '../../config.js';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const REFERENCE_HEADING = '## Configuration reference';

/** A dotted key path as configKeyPaths() spells them: `pool.size`, `cluster.kubernetes.port`. */
const DOTTED_KEY = /^[a-z][A-Za-z0-9]*(?:\.[a-z][A-Za-z0-9]*)+$/;

const paths = configKeyPaths();
const knownPaths = new Set(paths);
const topLevelKeys = new Set(paths.filter((p) => !p.includes('.')));

/** The text from the reference heading up to the next second-level heading (its ### subsections included). */
function readReferenceSection(markdown: string): string {
  const start = markdown.indexOf(`\n${REFERENCE_HEADING}\n`);
  if (start < 0) return '';
  const body = markdown.slice(start + REFERENCE_HEADING.length + 2);
  const next = body.search(/^## /m);
  return next < 0 ? body : body.slice(0, next);
}

/** Contents of every `code span` on a line. */
function readCodeSpans(markdown: string): string[] {
  return [...markdown.matchAll(/`([^`\n]+)`/g)].map((m) => m[1]!);
}

/** The rows of the table whose header starts with "| key |", up to the first line that is not a row. */
function readKeyTable(markdown: string): string[] {
  const lines = markdown.split('\n');
  const header = lines.findIndex((l) => /^\|\s*key\s*\|/.test(l));
  if (header < 0) return [];
  const end = lines.findIndex((l, i) => i > header && !l.startsWith('|'));
  return lines.slice(header + 2, end < 0 ? undefined : end);
}

/** The code span that fills the first cell of each row ("| `pool.size` | ..."). */
function readFirstColumnKeys(rows: readonly string[]): string[] {
  return rows.flatMap((r) => {
    const m = /^\|\s*`([^`]+)`\s*\|/.exec(r);
    return m ? [m[1]!] : [`(row without a key: ${r})`];
  });
}

const reference = readReferenceSection(README);
const firstColumn = readFirstColumnKeys(readKeyTable(reference));

describe('README configuration reference', () => {
  it('has a configuration reference section with a table of keys', () => {
    expect({ hasSection: reference.length > 0, rows: firstColumn.length > 0 }).toEqual({
      hasSection: true,
      rows: true,
    });
  });

  it('mentions every configuration key in backticks', () => {
    const mentioned = new Set(readCodeSpans(README));
    expect(paths.filter((p) => !mentioned.has(p))).toEqual([]);
  });

  it('gives every configuration key its own row in the reference table', () => {
    const rows = new Set(firstColumn);
    expect(paths.filter((p) => !rows.has(p))).toEqual([]);
  });

  it('lists no key twice in the reference table', () => {
    expect(firstColumn.filter((k, i) => firstColumn.indexOf(k) !== i)).toEqual([]);
  });

  it('names only real keys in the first column of the reference table', () => {
    expect(firstColumn.filter((k) => !knownPaths.has(k))).toEqual([]);
  });

  it('names only real keys in any backticked dotted path of a configuration section', () => {
    const dotted = readCodeSpans(reference).filter((s) => DOTTED_KEY.test(s));
    const claimed = dotted.filter((s) => topLevelKeys.has(s.split('.')[0]!));
    expect(claimed.filter((k) => !knownPaths.has(k))).toEqual([]);
  });
});
