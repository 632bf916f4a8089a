// Server side of a SCRAM-SHA-256(-PLUS) exchange with a client of the proxy, following PostgreSQL's auth-scram.c.

import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import { type AuthFailure, createAuthFailure } from './auth-failure.js';
import { isEqualConstantTime } from './constant-time.js';
import {
  buildAuthMessage,
  createNonce,
  DEFAULT_SALT_LENGTH,
  DEFAULT_SCRAM_ITERATIONS,
  decodeBase64Strict,
  hashSha256,
  hmacSha256,
  isScramPrintable,
  parseScramAttributes,
  parseScramVerifier,
  type RandomBytes,
  SCRAM_KEY_LENGTH,
  SCRAM_SHA_256,
  SCRAM_SHA_256_PLUS,
  type ScramVerifier,
  TLS_SERVER_END_POINT,
  xorBuffers,
} from './scram.js';

export interface ScramServerOptions {
  /** The role's secret: parsed, or as stored in pg_authid. A string that is no SCRAM secret dooms the exchange. */
  verifier: ScramVerifier | string;
  /** The user named in the startup packet; only used in the failure message, as PostgreSQL does. */
  username?: string;
  /** tls-server-end-point hash of the proxy's own certificate; offering SCRAM-SHA-256-PLUS requires it. */
  channelBinding?: Buffer;
  randomBytes?: RandomBytes;
  /** Produces the server nonce; defaults to base64 of 18 random bytes, like PostgreSQL. */
  createNonce?: () => string;
  /**
   * Secret mixed into the salt of a mock exchange, like PostgreSQL's cluster-wide mock authentication
   * nonce. Pass one value for the life of the process: then an unknown user (or one without a SCRAM
   * secret) gets the same salt on every attempt, as a real one would. Without it the mock salt is
   * random per attempt, which a patient attacker can tell apart from a real user.
   */
  mockSecret?: Buffer;
}

/** Options of ScramServer.mock: the same, less the secret and user, which the mock supplies. */
export type MockScramServerOptions = Omit<ScramServerOptions, 'verifier' | 'username'>;

export type ClientFirstResult = { ok: true; serverFirst: string } | { ok: false; error: AuthFailure };
/** On success `clientKey` is the key the client proved it holds (usable for SCRAM pass-through). */
export type ClientFinalResult =
  | { ok: true; serverFinal: string; clientKey: Buffer }
  | { ok: false; error: AuthFailure };

type ExchangeState =
  | { phase: 'awaiting-client-first' }
  | {
      phase: 'awaiting-client-final';
      cbindFlag: 'n' | 'y' | 'p';
      gs2Header: string;
      clientFirstBare: string;
      clientNonce: string;
      serverNonce: string;
      serverFirst: string;
    }
  | { phase: 'finished' }
  | { phase: 'failed' };

type Parsed<T> = { ok: true; value: T } | { ok: false; error: AuthFailure };

/**
 * One SCRAM exchange. Messages are handled as latin1 strings so that every byte the client sent
 * goes unchanged into AuthMessage, whatever its encoding of the (ignored) user name.
 */
export class ScramServer {
  readonly #verifier: ScramVerifier;
  readonly #username: string | undefined;
  readonly #channelBinding: Buffer | undefined;
  readonly #createNonce: () => string;
  #isDoomed: boolean;
  #state: ExchangeState = { phase: 'awaiting-client-first' };

  constructor(options: ScramServerOptions) {
    const randomBytes = options.randomBytes ?? cryptoRandomBytes;
    this.#username = options.username;
    this.#channelBinding = options.channelBinding;
    this.#createNonce = options.createNonce ?? (() => createNonce(randomBytes));
    const verifier =
      typeof options.verifier === 'string' ? parseScramVerifier(options.verifier) : options.verifier;
    // PostgreSQL goes through the motions with a mock secret when the stored one is unusable
    // (e.g. an md5 hash), failing only at the end, so the failure looks like a wrong password.
    this.#isDoomed = verifier === undefined;
    this.#verifier = verifier ?? mockVerifier(options.username ?? '', options.mockSecret, randomBytes);
  }

  /**
   * An exchange for a user that does not exist (PostgreSQL's mock_scram_secret): it runs every
   * step, including the proof computation, and always fails with 28P01 at the final message, so
   * neither the messages nor the timing reveal whether the user exists.
   */
  static mock(username: string, options: MockScramServerOptions = {}): ScramServer {
    const randomBytes = options.randomBytes ?? cryptoRandomBytes;
    const server = new ScramServer({
      ...options,
      username,
      verifier: mockVerifier(username, options.mockSecret, randomBytes),
    });
    server.#isDoomed = true;
    return server;
  }

  /** Mechanisms to list in AuthenticationSASL, strongest first (PostgreSQL's scram_get_mechanisms). */
  get mechanisms(): string[] {
    return this.#channelBinding ? [SCRAM_SHA_256_PLUS, SCRAM_SHA_256] : [SCRAM_SHA_256];
  }

  get isComplete(): boolean {
    return this.#state.phase === 'finished';
  }

  /** Handles SASLInitialResponse: the chosen mechanism and the client-first-message. */
  handleClientFirst(mechanism: string, data: Buffer): ClientFirstResult {
    if (this.#state.phase !== 'awaiting-client-first') return this.#fail(unexpectedMessage());
    let isChannelBindingUsed: boolean;
    if (mechanism === SCRAM_SHA_256_PLUS && this.#channelBinding) isChannelBindingUsed = true;
    else if (mechanism === SCRAM_SHA_256) isChannelBindingUsed = false;
    else {
      return this.#fail(
        createAuthFailure('invalid-mechanism', 'client selected an invalid SASL authentication mechanism'),
      );
    }
    const text = decodeMessage(data);
    if (!text.ok) return this.#fail(text.error);
    const parsed = this.#parseClientFirst(text.value, isChannelBindingUsed);
    if (!parsed.ok) return this.#fail(parsed.error);

    const serverNonce = this.#createNonce();
    const { salt, iterations } = this.#verifier;
    const serverFirst = `r=${parsed.value.clientNonce}${serverNonce},s=${salt.toString('base64')},i=${iterations}`;
    this.#state = { phase: 'awaiting-client-final', ...parsed.value, serverNonce, serverFirst };
    return { ok: true, serverFirst };
  }

  /** Handles SASLResponse: the client-final-message with the proof. */
  handleClientFinal(data: Buffer): ClientFinalResult {
    const state = this.#state;
    if (state.phase !== 'awaiting-client-final') return this.#fail(unexpectedMessage());
    const text = decodeMessage(data);
    if (!text.ok) return this.#fail(text.error);
    const parsed = parseScramAttributes(text.value);
    if (!parsed.ok) return this.#fail(malformed(parsed.detail));
    const attributes = parsed.attributes;

    const binding = attributes[0];
    if (binding?.name !== 'c') return this.#fail(malformed(expectedAttribute('c', binding?.name)));
    const bindingError = this.#checkChannelBinding(state.cbindFlag, state.gs2Header, binding.value);
    if (bindingError) return this.#fail(bindingError);

    const nonce = attributes[1];
    if (nonce?.name !== 'r') return this.#fail(malformed(expectedAttribute('r', nonce?.name)));

    // Extensions between the nonce and the proof are ignored, as in read_client_final_message.
    const proofIndex = attributes.findIndex((a, i) => i >= 2 && a.name === 'p');
    if (proofIndex < 0) return this.#fail(malformed('Proof missing from client-final-message.'));
    if (proofIndex !== attributes.length - 1) {
      return this.#fail(malformed('Garbage found at the end of client-final-message.'));
    }
    const proof = decodeBase64Strict(attributes[proofIndex]!.value);
    if (proof?.length !== SCRAM_KEY_LENGTH) {
      return this.#fail(malformed('Malformed proof in client-final-message.'));
    }

    const expectedNonce = Buffer.from(state.clientNonce + state.serverNonce, 'latin1');
    if (!isEqualConstantTime(expectedNonce, Buffer.from(nonce.value, 'latin1'))) {
      return this.#fail(
        createAuthFailure('nonce-mismatch', 'invalid SCRAM response', 'Nonce does not match.'),
      );
    }

    // Everything before ",p=" exactly as the client sent it (the split above is lossless).
    const clientFinalWithoutProof = text.value.slice(0, text.value.lastIndexOf(',p='));
    const authMessage = buildAuthMessage(
      Buffer.from(state.clientFirstBare, 'latin1'),
      Buffer.from(state.serverFirst, 'latin1'),
      Buffer.from(clientFinalWithoutProof, 'latin1'),
    );
    const clientKey = xorBuffers(proof, hmacSha256(this.#verifier.storedKey, authMessage));
    // The proof is checked even when doomed, so a mock exchange costs the same time as a real one.
    const isProofValid = isEqualConstantTime(this.#verifier.storedKey, hashSha256(clientKey));
    if (!isProofValid || this.#isDoomed) {
      const user = this.#username === undefined ? '' : ` for user "${this.#username}"`;
      return this.#fail(createAuthFailure('invalid-password', `password authentication failed${user}`));
    }
    const serverSignature = hmacSha256(this.#verifier.serverKey, authMessage);
    this.#state = { phase: 'finished' };
    return { ok: true, serverFinal: `v=${serverSignature.toString('base64')}`, clientKey };
  }

  #parseClientFirst(
    text: string,
    isChannelBindingUsed: boolean,
  ): Parsed<{ cbindFlag: 'n' | 'y' | 'p'; gs2Header: string; clientFirstBare: string; clientNonce: string }> {
    // gs2-header = gs2-cbind-flag "," [ authzid ] "," (RFC 5802 section 7)
    const flag = text[0];
    let pos: number;
    if (flag === 'n' || flag === 'y') {
      if (isChannelBindingUsed) {
        return parseError(
          malformed(
            'The client selected SCRAM-SHA-256-PLUS, but the SCRAM message does not include channel binding data.',
          ),
        );
      }
      // "y": the client can bind but believes we cannot. We offered -PLUS, so someone stripped it
      // from the mechanism list in transit: refuse (RFC 5802 section 6).
      if (flag === 'y' && this.#channelBinding) {
        return parseError(
          createAuthFailure(
            'channel-binding-downgrade',
            'SCRAM channel binding negotiation error',
            'The client supports SCRAM channel binding but thinks the server does not.  However, this server does support channel binding.',
          ),
        );
      }
      if (text[1] !== ',')
        return parseError(malformed(`Comma expected, but found character "${text[1] ?? ''}".`));
      pos = 2;
    } else if (flag === 'p') {
      if (!isChannelBindingUsed) {
        return parseError(
          malformed(
            'The client selected SCRAM-SHA-256 without channel binding, but the SCRAM message includes channel binding data.',
          ),
        );
      }
      const comma = text.indexOf(',');
      const attribute = comma < 0 ? text : text.slice(0, comma);
      if (!attribute.startsWith('p='))
        return parseError(malformed('Expected character "=" for attribute "p".'));
      const type = attribute.slice(2);
      if (type !== TLS_SERVER_END_POINT) {
        return parseError(
          createAuthFailure('malformed-message', `unsupported SCRAM channel-binding type "${type}"`),
        );
      }
      pos = comma + 1;
    } else {
      return parseError(malformed(`Unexpected channel-binding flag "${flag ?? ''}".`));
    }
    if (text[pos] === 'a') {
      return parseError(
        createAuthFailure(
          'unsupported-feature',
          'client uses authorization identity, but it is not supported',
        ),
      );
    }
    if (text[pos] !== ',') {
      return parseError(malformed(`Unexpected attribute "${text[pos] ?? ''}" in client-first-message.`));
    }
    pos++;
    const gs2Header = text.slice(0, pos);
    const clientFirstBare = text.slice(pos);
    if (clientFirstBare[0] === 'm') {
      return parseError(
        createAuthFailure('unsupported-feature', 'client requires an unsupported SCRAM extension'),
      );
    }
    const parsed = parseScramAttributes(clientFirstBare);
    if (!parsed.ok) return parseError(malformed(parsed.detail));
    // n= is ignored: the user name comes from the startup packet (libpq always sends it empty).
    const [user, nonce] = parsed.attributes;
    if (user?.name !== 'n') return parseError(malformed(expectedAttribute('n', user?.name)));
    if (nonce?.name !== 'r') return parseError(malformed(expectedAttribute('r', nonce?.name)));
    if (nonce.value.length === 0 || !isScramPrintable(nonce.value)) {
      return parseError(createAuthFailure('malformed-message', 'non-printable characters in SCRAM nonce'));
    }
    // Any further attributes are optional extensions, which are ignored.
    return {
      ok: true,
      value: { cbindFlag: flag, gs2Header, clientFirstBare, clientNonce: nonce.value },
    };
  }

  #checkChannelBinding(
    cbindFlag: 'n' | 'y' | 'p',
    gs2Header: string,
    value: string,
  ): AuthFailure | undefined {
    if (cbindFlag === 'p') {
      // c= is base64(gs2-header + cbind-data), cbind-data being our certificate hash (RFC 5929).
      const expected = Buffer.concat([Buffer.from(gs2Header, 'latin1'), this.#channelBinding!]).toString(
        'base64',
      );
      if (isEqualConstantTime(Buffer.from(expected, 'latin1'), Buffer.from(value, 'latin1')))
        return undefined;
      return createAuthFailure('channel-binding-mismatch', 'SCRAM channel binding check failed');
    }
    // Without binding, c= must repeat the flag from client-first: "biws" = "n,,", "eSws" = "y,,".
    if ((value === 'biws' && cbindFlag === 'n') || (value === 'eSws' && cbindFlag === 'y')) return undefined;
    return createAuthFailure(
      'malformed-message',
      'unexpected SCRAM channel-binding attribute in client-final-message',
    );
  }

  #fail(error: AuthFailure): { ok: false; error: AuthFailure } {
    this.#state = { phase: 'failed' };
    return { ok: false, error };
  }
}

function mockVerifier(
  username: string,
  mockSecret: Buffer | undefined,
  randomBytes: RandomBytes,
): ScramVerifier {
  // PostgreSQL's scram_mock_salt: SHA-256 of the user name and a secret, cut to the salt length.
  const salt = mockSecret
    ? hashSha256(Buffer.concat([Buffer.from(username, 'utf8'), mockSecret])).subarray(0, DEFAULT_SALT_LENGTH)
    : randomBytes(DEFAULT_SALT_LENGTH);
  return {
    iterations: DEFAULT_SCRAM_ITERATIONS,
    salt,
    storedKey: Buffer.alloc(SCRAM_KEY_LENGTH),
    serverKey: Buffer.alloc(SCRAM_KEY_LENGTH),
  };
}

function decodeMessage(data: Buffer): Parsed<string> {
  if (data.length === 0) return parseError(malformed('The message is empty.'));
  // PostgreSQL treats the message as a C string: an embedded NUL means the lengths disagree.
  if (data.includes(0)) return parseError(malformed('Message length does not match input length.'));
  return { ok: true, value: data.toString('latin1') };
}

function malformed(detail: string): AuthFailure {
  return createAuthFailure('malformed-message', 'malformed SCRAM message', detail);
}

function unexpectedMessage(): AuthFailure {
  return createAuthFailure('unexpected-message', 'unexpected SCRAM message in this state of the exchange');
}

function expectedAttribute(expected: string, found: string | undefined): string {
  return found === undefined
    ? `Attribute "${expected}" expected, but the message ended.`
    : `Expected attribute "${expected}" but found "${found}".`;
}

function parseError(error: AuthFailure): { ok: false; error: AuthFailure } {
  return { ok: false, error };
}
