// Walks a whole libpg-query parse (sub)tree generically and collects what routing needs from it.
//
// No node types are enumerated for the walk: every object and array is visited, so function calls in
// subqueries, CTEs, function arguments, WHERE, ORDER BY, LATERAL, DEFAULT, ... are all found, including
// in node types added by future PostgreSQL versions.

import type { Node, RangeVar } from 'libpg-query';

export interface FunctionCallFact {
  /** null for an unqualified call; the second-to-last name part otherwise. */
  schema: string | null;
  name: string;
  args: Node[];
}

export interface TreeFacts {
  calls: FunctionCallFact[];
  /** FOR UPDATE / NO KEY UPDATE / SHARE / KEY SHARE somewhere below. */
  hasLockingClause: boolean;
  /** INSERT/UPDATE/DELETE/MERGE somewhere below (e.g. in a WITH clause). */
  hasDataModification: boolean;
  /** Tables created by SELECT ... INTO (the clause may sit on a UNION's left arm). */
  intoRelations: RangeVar[];
}

const DATA_MODIFYING_NODES: ReadonlySet<string> = new Set([
  'InsertStmt',
  'UpdateStmt',
  'DeleteStmt',
  'MergeStmt',
]);

interface FuncCallShape {
  funcname?: Node[];
  args?: Node[];
}

function toCallFact(call: FuncCallShape): FunctionCallFact | null {
  const parts = (call.funcname ?? []).map((part) => ('String' in part ? (part.String.sval ?? '') : ''));
  const name = parts[parts.length - 1];
  if (name === undefined) return null;
  const schema = parts.length >= 2 ? (parts[parts.length - 2] ?? null) : null;
  return { schema, name, args: call.args ?? [] };
}

/** Facts about everything below `root` (root itself is visited too), calls in document order. */
export function collectTreeFacts(root: unknown): TreeFacts {
  const facts: TreeFacts = {
    calls: [],
    hasLockingClause: false,
    hasDataModification: false,
    intoRelations: [],
  };
  visit(root, facts);
  return facts;
}

function visit(value: unknown, facts: TreeFacts): void {
  if (value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    for (const item of value) visit(item, facts);
    return;
  }
  for (const key in value) {
    const child: unknown = (value as Record<string, unknown>)[key];
    if (key === 'FuncCall') {
      const fact = toCallFact(child as FuncCallShape);
      if (fact !== null) facts.calls.push(fact);
    } else if (key === 'LockingClause') facts.hasLockingClause = true;
    else if (DATA_MODIFYING_NODES.has(key)) facts.hasDataModification = true;
    else if (key === 'intoClause') facts.intoRelations.push((child as { rel?: RangeVar }).rel ?? {});
    visit(child, facts);
  }
}
