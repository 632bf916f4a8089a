// What a client logging in with given settings is told (ParameterStatus), remembered per pool.

/** One ParameterStatus as the server reported it (original spelling of the name). */
export interface ReportedParam {
  readonly name: string;
  readonly value: string;
}

/** Distinct settings combinations remembered per pool; each entry is a few hundred bytes. */
export const LOGIN_PARAMS_LIMIT = 64;

/**
 * How long an answer is reused. A reload that changes a reported default (TimeZone, DateStyle...)
 * reaches a server's sessions only at their next statement, so nothing tells the proxy; this bounds
 * how long new logins may still be told the old value.
 */
export const LOGIN_PARAMS_TTL_MS = 60_000;

interface Entry {
  readonly params: readonly ReportedParam[];
  readonly at: number;
  /** `in_hot_standby` as reported (PostgreSQL 14 and later), else undefined. */
  readonly hotStandby: string | undefined;
}

/**
 * A login needs no server connection once a server has accepted the same startup settings for the
 * same (instance, user, database): the client is told what that server reported then, as PgBouncer
 * answers logins from the parameters it cached. Logins then neither wait for a busy pool nor cost a
 * round trip; the settings still reach every server the session later uses (settings sync), and a
 * setting no server accepted yet still gets its error at login.
 *
 * What the answer depends on beyond the settings is watched:
 * - a new server connection reporting different startup parameters (restart, upgrade, ALTER ROLE
 *   or ALTER DATABASE ... SET) forgets every entry (`noteServerStartup`);
 * - `in_hot_standby` must match the role the router gives the instance now: after a promotion or a
 *   demotion the entry is a miss, and the login runs on a server again;
 * - entries expire after LOGIN_PARAMS_TTL_MS.
 */
export class LoginParams {
  private readonly bySettings = new Map<string, Entry>();
  private baseline: string | null = null;

  get size(): number {
    return this.bySettings.size;
  }

  /** The cache key of a session's startup settings: independent of their order, unambiguous. */
  static keyOf(settings: Iterable<readonly [string, string]>): string {
    return [...settings]
      .map(([name, value]) => `${name}\0${value}`)
      .sort()
      .join('\0\0');
  }

  /** What a login with these settings was told, unless it may have changed since. */
  get(key: string, role: 'primary' | 'standby' | null, now: number): readonly ReportedParam[] | undefined {
    const entry = this.bySettings.get(key);
    if (entry === undefined) return undefined;
    const isRoleChanged =
      role !== null && entry.hotStandby !== undefined && (entry.hotStandby === 'on') !== (role === 'standby');
    if (isRoleChanged || now - entry.at >= LOGIN_PARAMS_TTL_MS) {
      this.bySettings.delete(key);
      return undefined;
    }
    return entry.params;
  }

  /** Remember what a server reported at the end of a login with these settings. */
  remember(key: string, reported: Iterable<ReportedParam>, now: number): void {
    this.bySettings.delete(key);
    if (this.bySettings.size >= LOGIN_PARAMS_LIMIT) {
      // Maps keep insertion order: the oldest entry goes.
      this.bySettings.delete(this.bySettings.keys().next().value!);
    }
    const params = [...reported].map(({ name, value }) => ({ name, value }));
    const hotStandby = params.find((p) => p.name.toLowerCase() === 'in_hot_standby')?.value;
    this.bySettings.set(key, { params, at: now, hotStandby });
  }

  /** A new server connection's startup parameters: anything different from before forgets all. */
  noteServerStartup(reported: Iterable<ReportedParam>): void {
    const sig = LoginParams.keyOf([...reported].map(({ name, value }) => [name, value] as const));
    if (this.baseline !== null && sig !== this.baseline) this.bySettings.clear();
    this.baseline = sig;
  }
}
