/**
 * The uwsgi protocol codec, pure TypeScript (web-standard APIs only).
 *
 * A packet: modifier1 (u8), datasize (u16 LE), modifier2 (u8), then `datasize` bytes of vars —
 * pairs of (u16 LE name length, name, u16 LE value length, value) — then exactly CONTENT_LENGTH
 * body bytes. The answer is a raw HTTP/1.x response, then the server closes.
 *
 * Strings in UwsgiVars are byte strings: one char per byte (latin1), lossless both ways.
 */
export * from './types.ts';
export { UwsgiDecoder, type DecoderHandlers, type DecoderState } from './decoder.ts';
export { concatBytes, latin1, fromLatin1 } from './bytes.ts';
export { encodePacket, encodeVars, getVar } from './vars.ts';
export { buildRequest, requestToVars, varsToRequest, type SignalSource } from './request.ts';
export { bodyAllowed, encodeResponseHead, statusReason } from './response.ts';
