// Pure: the pgroute.* commands the proxy answers itself (SET/RESET/SHOW pgroute.target, pgroute.min_lsn, pgroute.last_lsn, pgroute.last_route).

import { formatLsn, parseLsn } from '../discovery/lsn.js';
import type { RouteDecision, RoutingSession } from '../router/policy.js';
import { ProxyError, SqlState } from './errors.js';
import type { StatementInfo } from './session-types.js';
import { commandComplete, dataRow, rowDescription } from './wire/backend-messages.js';

const SHOW_PGROUTE = /^\s*show\s+pgroute\.([a-z_]+)\s*;?\s*$/i;
/** Every pgroute.* command names the prefix: texts without it need no closer look. */
const PGROUTE_PREFIX = /pgroute\./i;
const TARGETS = new Set(['primary', 'standby', 'any']);

export interface LocalState {
  routing: RoutingSession;
  lastRoute: RouteDecision | null;
}

/** True when `sql` may be a pgroute command: the cheap test before classifying it (see isPgrouteCommand). */
export function mentionsPgroute(sql: string): boolean {
  return PGROUTE_PREFIX.test(sql);
}

/** True when `sql` is exactly one pgroute command (SHOW pgroute.x, or SET/RESET of one pgroute.* setting). */
export function isPgrouteCommand(sql: string, info: StatementInfo): boolean {
  if (SHOW_PGROUTE.test(sql)) return true;
  return (
    info.settings.length === 1 &&
    (info.statementCount ?? 1) === 1 &&
    info.settings[0]!.name.startsWith('pgroute.')
  );
}

/**
 * Replies (without ReadyForQuery) when `sql` is a pgroute command, else null. Errors come back as an
 * ErrorResponse in the replies, exactly as PostgreSQL answers a bad SET.
 */
export function answerPgrouteCommand(sql: string, info: StatementInfo, state: LocalState): Buffer[] | null {
  const show = SHOW_PGROUTE.exec(sql);
  if (show) return showSetting(show[1]!.toLowerCase(), state);
  if (info.settings.length !== 1 || (info.statementCount ?? 1) !== 1) return null;
  const s = info.settings[0]!;
  if (!s.name.startsWith('pgroute.')) return null;
  try {
    applySetting(s.name, s.value, state.routing);
  } catch (err) {
    return [(err as ProxyError).toMessage()];
  }
  return [commandComplete(s.value === null ? 'RESET' : 'SET')];
}

function showSetting(name: string, state: LocalState): Buffer[] {
  let value: string | null;
  switch (name) {
    case 'target':
      value = state.routing.target ?? 'auto';
      break;
    case 'last_lsn':
    case 'min_lsn':
      // After a write made while no standby existed there is no LSN to hand on: NULL, as before any write.
      value =
        state.routing.minLsn === null || state.routing.isLsnUnknown ? null : formatLsn(state.routing.minLsn);
      break;
    case 'last_route': {
      const r = state.lastRoute;
      value = r?.kind === 'route' ? `${r.role} ${r.instanceId} ${r.reason}` : null;
      break;
    }
    default:
      return [unknownSetting(`pgroute.${name}`).toMessage()];
  }
  return [rowDescription([`pgroute.${name}`]), dataRow([value]), commandComplete('SHOW')];
}

function applySetting(name: string, value: string | null, routing: RoutingSession): void {
  switch (name) {
    case 'pgroute.target':
      if (value === null || value === 'default' || value === 'auto') routing.target = null;
      else if (TARGETS.has(value)) routing.target = value as RoutingSession['target'];
      else throw invalidValue(name, value, 'primary, standby, any or auto');
      return;
    case 'pgroute.min_lsn': {
      if (value === null) {
        routing.minLsn = null;
        return;
      }
      let lsn: bigint;
      try {
        lsn = parseLsn(value);
      } catch {
        throw invalidValue(name, value, "an LSN such as '0/16B3748'");
      }
      // Causality only moves forward: a smaller LSN from another connection must not undo ours.
      if (routing.minLsn === null || lsn > routing.minLsn) routing.minLsn = lsn;
      return;
    }
    default:
      throw unknownSetting(name);
  }
}

function unknownSetting(name: string): ProxyError {
  return new ProxyError('UNKNOWN_SETTING', '42704', `unrecognized configuration parameter "${name}"`);
}

function invalidValue(name: string, value: string, expected: string): ProxyError {
  return new ProxyError(
    'INVALID_SETTING',
    SqlState.InvalidParameterValue,
    `invalid value for parameter "${name}": "${value}"`,
    'ERROR',
    undefined,
    `Expected ${expected}.`,
  );
}
