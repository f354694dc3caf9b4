/**
 * Types and errors of the uwsgi codec (no imports: every codec file may import this one).
 */

/**
 * The vars of one packet, in packet order, duplicates kept. Every string is a byte string: one
 * char per byte (latin1, 0..255), so any bytes survive a decode and an encode unchanged.
 */
export type UwsgiVars = Array<[name: string, value: string]>;

/** The 4-byte packet header. */
export interface PacketHead {
  modifier1: number;
  /** Size of the vars block that follows, in bytes. */
  size: number;
  modifier2: number;
}

/** The largest vars block the protocol can express (its size is a u16). */
export const MAX_VARS_SIZE = 65535;

export type ProtocolErrorCode =
  | 'looks-like-http'
  | 'unsupported-modifier'
  | 'block-too-large'
  | 'bad-vars'
  | 'bad-content-length'
  | 'bad-streamed-body'
  | 'truncated-header'
  | 'truncated-body';

export interface ProtocolErrorDetails {
  /** block-too-large: the vars block size the peer announced. */
  size?: number;
  /** block-too-large: the largest accepted (--buffer-size). */
  limit?: number;
  /** bad-vars: offset in the packet (header included) where the bad length was read. */
  offset?: number;
}

/** A packet that is not valid uwsgi. The message is written for the server's log. */
/** Input a decoder cannot go on from: `code` says what for programs, the message says it for the log. */
export class CodecError<C extends string> extends Error {
  readonly code: C;

  constructor(code: C, message: string) {
    super(message);
    this.code = code;
  }
}

export class UwsgiProtocolError extends CodecError<ProtocolErrorCode> {
  override name = 'UwsgiProtocolError';
  readonly size?: number;
  readonly limit?: number;
  readonly offset?: number;

  constructor(code: ProtocolErrorCode, message: string, details: ProtocolErrorDetails = {}) {
    super(code, message);
    if (details.size !== undefined) this.size = details.size;
    if (details.limit !== undefined) this.limit = details.limit;
    if (details.offset !== undefined) this.offset = details.offset;
  }
}
