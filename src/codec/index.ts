/**
 * The protocol codecs, pure TypeScript (web-standard APIs only): what the connection classes in
 * src/worker/ decode requests with and encode answers with (docs/ARCHITECTURE.md, "connection core").
 *
 * - uwsgi (decoder.ts, vars.ts): modifier1 (u8), datasize (u16 LE), modifier2 (u8), then
 *   `datasize` bytes of vars — pairs of (u16 LE name length, name, u16 LE value length, value) —
 *   then exactly CONTENT_LENGTH body bytes (or, between tsgi's router and its workers only, framed
 *   pieces of a body of unknown length: frames.ts). The answer is a raw HTTP/1.x response.
 * - FastCGI (fastcgi.ts): records, several requests per connection; SCGI (scgi.ts): a netstring
 *   of vars. Both decode into the same vars, so one varsToRequest (request.ts) serves uwsgi,
 *   FastCGI and SCGI.
 * - HTTP/1.1 (http1.ts): request heads and bodies (Content-Length or chunked).
 * - WebSocket (websocket.ts): the handshake's checks, frames both ways, close frames.
 *
 * Strings in UwsgiVars are byte strings: one char per byte (latin1), lossless both ways.
 */
export { CodecError, MAX_VARS_SIZE, type PacketHead, type ProtocolErrorCode, type ProtocolErrorDetails, UwsgiProtocolError, type UwsgiVars } from './types.ts';
export { UwsgiDecoder, type DecoderHandlers, type DecoderState } from './decoder.ts';
export { ScgiDecoder, type ScgiErrorCode, type ScgiHandlers, ScgiProtocolError, type ScgiState } from './scgi.ts';
export { FrameDecoder, frameHead, KEEP_CONNECTION_VAR, LAST_FRAME, STREAMED_BODY, STREAMED_BODY_VAR, type FrameHandlers } from './frames.ts';
export { concatBytes, latin1, fromLatin1 } from './bytes.ts';
export { encodePacket, encodeVars, getVar } from './vars.ts';
export { plainHostname, plainTarget, plainValue } from './plain.ts';
export { appendHeader, buildRequest, headToRequest, type LazyRequestMaker, percentDecode, requestToVars, varsToRequest, type SignalSource } from './request.ts';
export { bodyAllowed, chunkFrame, encodeResponseHead, keepsLength, lastChunk, reasonPhrase, statusReason } from './response.ts';
export {
  encodeEndRequest,
  encodeGetValuesResult,
  encodePairs,
  encodeRecord,
  encodeRequest,
  encodeStream,
  encodeUnknownType,
  FastCgiDecoder,
  FastCgiProtocolError,
  FCGI,
  FCGI_KEEP_CONN,
  FCGI_MAX_CONTENT,
  FCGI_RESPONDER,
  FCGI_STATUS,
  type FastCgiErrorCode,
  type FastCgiHandlers,
} from './fastcgi.ts';
export { BodyReader, HttpError, type HttpRequestHead, headEnd, parseHead } from './http1.ts';
export {
  encodeClosePayload,
  encodeFrame,
  handshakeRefusal,
  parseClosePayload,
  validWebSocketKey,
  WebSocketDecoder,
  type WebSocketDecoderOptions,
  WebSocketError,
  type WebSocketErrorCode,
  type WebSocketFrameEvents,
  webSocketAccept,
  WS_CLOSE,
  WS_OPCODE,
} from './websocket.ts';
