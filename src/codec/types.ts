/**
 * Types and errors of the uwsgi codec (no imports: every codec file may import this one).
 */
export type UwsgiVars = Array<[name: string, value: string]>;

export interface PacketHead {
  modifier1: number;
  size: number;
  modifier2: number;
}

/** The largest vars block the protocol can express. */
export const MAX_VARS_SIZE = 65535;

export type ProtocolErrorCode =
  | 'looks-like-http'
  | 'unsupported-modifier'
  | 'block-too-large'
  | 'bad-vars'
  | 'bad-content-length'
  | 'truncated-header'
  | 'truncated-body';

export class UwsgiProtocolError extends Error {
  override name = 'UwsgiProtocolError';
  constructor(
    readonly code: ProtocolErrorCode,
    message: string,
    readonly size?: number,
    readonly limit?: number,
  ) {
    super(message);
  }
}

