// Unit: users[].secret in the configuration: a user may take name and password from a Kubernetes Secret instead.

import { describe, expect, it } from 'vitest';
import { ConfigError, validateConfig } from '../../config.js';

const withUsers = (users: unknown[], extra: Record<string, unknown> = {}) => ({
  cluster: { hosts: ['127.0.0.1:5432'] },
  users,
  ...extra,
});

const messageOf = (input: unknown): string => {
  try {
    validateConfig(input);
    return 'valid';
  } catch (error) {
    return error instanceof ConfigError ? error.message : String(error);
  }
};

describe('users[].secret', () => {
  it('accepts a user with only a secret and defaults the keys of a basic-auth Secret', () => {
    const config = validateConfig(withUsers([{ secret: { name: 'mycluster-app' } }]));
    expect(config.users[0]).toEqual({
      password: null,
      auth: 'scram-sha-256',
      secret: { name: 'mycluster-app', usernameKey: 'username', passwordKey: 'password' },
    });
  });

  it('accepts a name, a namespace and other keys next to the secret', () => {
    const user = { name: 'app', secret: { name: 's', namespace: 'db', usernameKey: 'u', passwordKey: 'p' } };
    expect(validateConfig(withUsers([user])).users[0]).toMatchObject(user);
  });

  it('still requires a name from a user without a secret, naming the key', () => {
    expect(messageOf(withUsers([{ password: 'x' }]))).toContain('users.0.name: set name, or secret');
  });

  it.each([
    ['password', { password: 'x' }],
    ['passwordFile', { passwordFile: '/run/secrets/pw' }],
  ])('refuses a secret together with %s', (_key, extra) => {
    expect(messageOf(withUsers([{ secret: { name: 's' }, ...extra }]))).toContain(
      'users.0.secret: set one of password, passwordFile or secret',
    );
  });

  it('refuses unknown keys in the secret', () => {
    expect(messageOf(withUsers([{ secret: { name: 's', key: 'password' } }]))).toContain('users.0.secret');
  });

  it('lets admin.users name a user whose name only the Secret knows', () => {
    expect(messageOf(withUsers([{ secret: { name: 's' } }], { admin: { users: ['app'] } }))).toBe('valid');
  });

  it('still checks admin.users when every user has a name', () => {
    expect(
      messageOf(withUsers([{ name: 'app', secret: { name: 's' } }], { admin: { users: ['other'] } })),
    ).toContain('admin.users: "other"');
  });
});
