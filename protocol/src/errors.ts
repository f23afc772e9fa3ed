/**
 * Errors of the wire protocol. Shaped like viem's: a one-line `shortMessage`
 * for logs and users, optional `details`, and the underlying `cause`.
 */
export interface ProtocolErrorOptions {
  details?: string;
  cause?: unknown;
}

export class ProtocolError extends Error {
  override name = 'ProtocolError';
  readonly shortMessage: string;
  readonly details: string | undefined;

  constructor(shortMessage: string, options: ProtocolErrorOptions = {}) {
    super(options.details ? `${shortMessage}\n\nDetails: ${options.details}` : shortMessage, {
      cause: options.cause,
    });
    this.shortMessage = shortMessage;
    this.details = options.details;
  }
}

/** The bytes are not a well-formed message (not JSON, wrong shape, too large). */
export class MalformedMessageError extends ProtocolError {
  override name = 'MalformedMessageError';
}

/** A field failed its runtime schema. */
export class SchemaError extends ProtocolError {
  override name = 'SchemaError';
}

/** The signature does not verify, or the signer is not who the message claims. */
export class SignatureError extends ProtocolError {
  override name = 'SignatureError';
}

/** The message was seen before, or its timestamp is outside the accepted window. */
export class ReplayError extends ProtocolError {
  override name = 'ReplayError';
}

/** The topic is not one of ours, or does not fit the message. */
export class TopicError extends ProtocolError {
  override name = 'TopicError';
}

/** A broker credential is malformed, expired or not signed by its subject. */
export class AuthTokenError extends ProtocolError {
  override name = 'AuthTokenError';
}

export function isProtocolError(error: unknown): error is ProtocolError {
  return error instanceof ProtocolError;
}
