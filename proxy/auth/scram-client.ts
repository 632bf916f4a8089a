// Client side of a SCRAM-SHA-256(-PLUS) exchange, for the proxy's own logins to PostgreSQL servers (as libpq does it).

import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import { isEqualConstantTime } from './constant-time.js';
import {
  buildAuthMessage,
  createNonce,
  decodeBase64Strict,
  deriveScramKeys,
  encodeSaslName,
  hashSha256,
  hmacSha256,
  isScramPrintable,
  parseScramAttributes,
  preparePassword,
  type RandomBytes,
  SCRAM_KEY_LENGTH,
  SCRAM_SHA_256,
  SCRAM_SHA_256_PLUS,
  TLS_SERVER_END_POINT,
  xorBuffers,
} from './scram.js';
import {
  ScramMechanismError,
  ScramNonceMismatchError,
  ScramServerMessageError,
  ScramServerRejectedError,
  ScramServerSignatureError,
  ScramStateError,
} from './scram-client-error.js';

/**
 * What the client proves knowledge of: the password, or (SCRAM pass-through) the ClientKey and
 * ServerKey recovered from a client's own exchange with the proxy, which only work when the
 * server's secret has the same salt and iteration count as the proxy's.
 */
export type ScramClientCredentials = { password: string | Buffer } | { clientKey: Buffer; serverKey: Buffer };

export type ScramClientOptions = ScramClientCredentials & {
  /** Sent as n=; PostgreSQL ignores it (it uses the startup packet's user), so libpq sends ''. */
  username?: string;
  /** tls-server-end-point hash of the server's certificate (see channel-binding.ts); enables -PLUS. */
  channelBinding?: Buffer;
  /** Fail unless the server offers SCRAM-SHA-256-PLUS (libpq's channel_binding=require). */
  requireChannelBinding?: boolean;
  randomBytes?: RandomBytes;
  /** Produces the client nonce; defaults to base64 of 18 random bytes, like libpq. */
  createNonce?: () => string;
};

type ClientState =
  | { phase: 'initial' }
  | {
      phase: 'awaiting-server-first';
      gs2Header: string;
      cbindData: Buffer;
      clientNonce: string;
      clientFirstBare: string;
    }
  | { phase: 'awaiting-server-final'; expectedServerSignature: Buffer }
  | { phase: 'finished' };

/** One login. Call start, then handleServerFirst, then handleServerFinal; each throws a ScramClientError on failure. */
export class ScramClient {
  readonly #credentials: ScramClientCredentials;
  readonly #username: string;
  readonly #channelBinding: Buffer | undefined;
  readonly #isChannelBindingRequired: boolean;
  readonly #createNonce: () => string;
  #state: ClientState = { phase: 'initial' };

  constructor(options: ScramClientOptions) {
    this.#credentials =
      'password' in options
        ? { password: options.password }
        : { clientKey: options.clientKey, serverKey: options.serverKey };
    this.#username = options.username ?? '';
    this.#channelBinding = options.channelBinding;
    this.#isChannelBindingRequired = options.requireChannelBinding ?? false;
    const randomBytes = options.randomBytes ?? cryptoRandomBytes;
    this.#createNonce = options.createNonce ?? (() => createNonce(randomBytes));
  }

  get isComplete(): boolean {
    return this.#state.phase === 'finished';
  }

  /** Picks a mechanism from AuthenticationSASL's list and builds the client-first-message. */
  start(mechanisms: readonly string[]): { mechanism: string; clientFirst: string } {
    if (this.#state.phase !== 'initial') throw new ScramStateError('SCRAM exchange already started');
    let mechanism: string;
    let gs2Header: string;
    let cbindData: Buffer = Buffer.alloc(0);
    if (this.#channelBinding && mechanisms.includes(SCRAM_SHA_256_PLUS)) {
      mechanism = SCRAM_SHA_256_PLUS;
      gs2Header = `p=${TLS_SERVER_END_POINT},,`;
      cbindData = this.#channelBinding;
    } else if (this.#isChannelBindingRequired) {
      throw new ScramMechanismError(
        `channel binding is required, but the server offered only: ${mechanisms.join(', ') || '(nothing)'}`,
      );
    } else if (mechanisms.includes(SCRAM_SHA_256)) {
      mechanism = SCRAM_SHA_256;
      // "y": we could bind but the server did not offer it; a server that does support it will
      // then detect that someone stripped -PLUS from its list (RFC 5802 section 6).
      gs2Header = this.#channelBinding ? 'y,,' : 'n,,';
    } else {
      throw new ScramMechanismError(
        `none of the server's SASL mechanisms is supported: ${mechanisms.join(', ') || '(nothing)'}`,
      );
    }
    const clientNonce = this.#createNonce();
    if (clientNonce.length === 0 || !isScramPrintable(clientNonce)) {
      throw new RangeError('a SCRAM nonce must be non-empty printable ASCII without commas');
    }
    const clientFirstBare = `n=${encodeSaslName(this.#username)},r=${clientNonce}`;
    this.#state = { phase: 'awaiting-server-first', gs2Header, cbindData, clientNonce, clientFirstBare };
    return { mechanism, clientFirst: gs2Header + clientFirstBare };
  }

  /** Reads AuthenticationSASLContinue's server-first-message; returns the client-final-message. */
  handleServerFirst(data: Buffer | string): string {
    const state = this.#state;
    if (state.phase !== 'awaiting-server-first') throw new ScramStateError('unexpected server-first-message');
    const serverFirst = typeof data === 'string' ? data : data.toString('utf8');
    const parsed = parseScramAttributes(serverFirst);
    if (!parsed.ok) throw new ScramServerMessageError(`malformed server-first-message: ${parsed.detail}`);
    const [nonce, salt, iterations] = parsed.attributes;
    if (nonce?.name === 'm')
      throw new ScramServerMessageError('server requires an unsupported SCRAM extension');
    if (nonce?.name !== 'r' || salt?.name !== 's' || iterations?.name !== 'i') {
      throw new ScramServerMessageError('malformed server-first-message: expected r=, s= and i= attributes');
    }
    if (!nonce.value.startsWith(state.clientNonce) || nonce.value.length === state.clientNonce.length) {
      throw new ScramNonceMismatchError('invalid SCRAM response (nonce mismatch)');
    }
    if (!isScramPrintable(nonce.value))
      throw new ScramServerMessageError('non-printable characters in SCRAM nonce');
    const saltBytes = decodeBase64Strict(salt.value);
    if (!saltBytes || saltBytes.length === 0)
      throw new ScramServerMessageError('malformed SCRAM message (invalid salt)');
    if (!/^[1-9][0-9]{0,9}$/.test(iterations.value) || Number(iterations.value) > 0x7fffffff) {
      throw new ScramServerMessageError('malformed SCRAM message (invalid iteration count)');
    }
    // Attributes after i= are extensions, which RFC 5802 lets the client ignore.

    const { clientKey, serverKey } =
      'password' in this.#credentials
        ? deriveScramKeys(preparePassword(this.#credentials.password), saltBytes, Number(iterations.value))
        : this.#credentials;
    const cbindInput = Buffer.concat([Buffer.from(state.gs2Header, 'utf8'), state.cbindData]);
    const clientFinalWithoutProof = `c=${cbindInput.toString('base64')},r=${nonce.value}`;
    const authMessage = buildAuthMessage(
      Buffer.from(state.clientFirstBare, 'utf8'),
      Buffer.from(serverFirst, 'utf8'),
      Buffer.from(clientFinalWithoutProof, 'utf8'),
    );
    const clientSignature = hmacSha256(hashSha256(clientKey), authMessage);
    const proof = xorBuffers(clientKey, clientSignature);
    this.#state = {
      phase: 'awaiting-server-final',
      expectedServerSignature: hmacSha256(serverKey, authMessage),
    };
    return `${clientFinalWithoutProof},p=${proof.toString('base64')}`;
  }

  /** Reads AuthenticationSASLFinal's server-final-message and checks the server's signature. */
  handleServerFinal(data: Buffer | string): void {
    const state = this.#state;
    if (state.phase !== 'awaiting-server-final') throw new ScramStateError('unexpected server-final-message');
    const text = typeof data === 'string' ? data : data.toString('utf8');
    const parsed = parseScramAttributes(text);
    if (!parsed.ok) throw new ScramServerMessageError(`malformed server-final-message: ${parsed.detail}`);
    const first = parsed.attributes[0];
    if (first?.name === 'e') throw new ScramServerRejectedError(first.value);
    if (first?.name !== 'v') throw new ScramServerMessageError('malformed server-final-message: v= expected');
    const signature = decodeBase64Strict(first.value);
    if (signature?.length !== SCRAM_KEY_LENGTH) {
      throw new ScramServerMessageError('malformed SCRAM message (malformed server signature)');
    }
    if (!isEqualConstantTime(state.expectedServerSignature, signature)) {
      throw new ScramServerSignatureError('incorrect server signature');
    }
    this.#state = { phase: 'finished' };
  }
}
