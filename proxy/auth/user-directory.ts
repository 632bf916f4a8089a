// The users clients log in as, with each SCRAM verifier derived once per password.

import type { Config } from '../../config.js';
import type { UserEntry } from '../client-startup.js';
import { buildScramVerifier, formatScramVerifier } from './scram.js';

/** Client-side users: SCRAM verifiers are derived once per password, not per login. */
export function buildUserDirectory(
  config: Readonly<Config>,
  previous?: ReadonlyMap<string, UserEntry>,
): Map<string, UserEntry> {
  const users = new Map<string, UserEntry>();
  for (const u of config.users) {
    // A user whose name comes from a Secret not read yet (see SecretUsers.apply).
    if (u.name === undefined) continue;
    const old = previous?.get(u.name);
    const verifier =
      u.password === null
        ? null
        : old && old.password === u.password
          ? old.scramVerifier
          : u.password.startsWith('SCRAM-SHA-256$')
            ? u.password
            : formatScramVerifier(buildScramVerifier(u.password));
    users.set(u.name, { name: u.name, password: u.password, auth: u.auth, scramVerifier: verifier });
  }
  return users;
}
