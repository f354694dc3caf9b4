/**
 * One request/answer exchange on a connection, whatever the protocol: the app is called with the
 * Request the connection built, the request body is dropped if the answer leaves it alone, the
 * answer is written with backpressure in the protocol's framing (an AnswerWriter), and the
 * request is counted and logged. The connection class decides what follows (close, keep alive).
 */
import { bodyAllowed, concatBytes } from '../codec/index.ts';
import { describeError, log } from '../log.ts';
import type { BodyStream } from './body.ts';
import type { RequestCounters } from './counters.ts';
import type { RequestFacts } from './reqlog.ts';
import { type AnswerSink, type BodyWriter, callApp, type Gone, plainAnswer, unbufferedEvents, writeBody } from './respond.ts';
import { NO_WEBSOCKETS, takeUpgrade } from '../websocket/upgrade.ts';
import type { Session } from '../websocket/session.ts';

/** A front door that carries WebSockets: who the client is, and how the connection takes one over. */
export interface UpgradeCarrier {
  remoteAddress: string;
  /** The app accepted a WebSocket: the connection runs it from here (writes the 101, then frames). */
  start(session: Session<unknown>): void;
}

/** A protocol's framing of one answer (its functions are called unbound). */
export interface AnswerWriter extends BodyWriter {
  /** The head of an answer that has no body (HEAD, 1xx, 204, 304). */
  bodyless(): Uint8Array;
}

export interface ExchangeSetup {
  conn: AnswerSink;
  handler: (req: Request) => Response | Promise<Response>;
  /** The request target as the client sent it, for the counters and log lines. */
  uri: string;
  /** The request's "client gone" (req.signal's source). */
  gone: Gone;
  /** Where the request body comes from (null: the request has none on the wire). */
  body: BodyStream | null;
  counters?: RequestCounters;
  /** The app's body as it gave it, or null: then the Response's stream is read (VarsServerOptions.wholeBody). */
  wholeBody?: (res: Response) => Uint8Array | null;
  /** The answer's framing, once the app has answered. */
  writer(res: Response): AnswerWriter;
  /** The request log's facts; `head` is the answer head written (null if none was). */
  facts(req: Request, head: Uint8Array | null): RequestFacts;
  /** The app has been called (a stop no longer waits for this connection's first request). */
  onStart?(): void;
  /**
   * The app has answered `res`. False: the connection does not take the answer (refused
   * meanwhile, closed, or handed over by a takeover answer).
   */
  onAnswer?(res: Response): boolean;
  /** Where WebSockets can be carried; without it an accepted upgrade gets a 426 saying `noUpgrade` (or NO_WEBSOCKETS). */
  upgrade?: UpgradeCarrier;
  noUpgrade?: string;
}

/** How the exchange ended: the answer written, its writing failed, the connection could not take it, or it became a WebSocket. */
export type ExchangeOutcome = 'written' | 'failed' | 'abandoned' | 'upgraded';

export class Exchange {
  readonly #s: ExchangeSetup;
  #id = 0;
  #req: Request | null = null;
  #status = 0;
  #bytes = 0;
  #failed = false;
  #head: Uint8Array | null = null;
  #outcome: ExchangeOutcome = 'abandoned';

  constructor(setup: ExchangeSetup) {
    this.#s = setup;
  }

  /** Call the app and write its answer. The connection is left open, whatever the outcome. */
  async run(req: Request): Promise<ExchangeOutcome> {
    const s = this.#s;
    this.#req = req;
    this.#id = s.counters?.started(req.method, s.uri) ?? 0;
    s.onStart?.();
    const answer = await callApp(s.handler, req, s.uri);
    let res = unbufferedEvents(answer.res);
    this.#status = res.status;
    this.#failed = answer.threw;
    if (s.onAnswer?.(res) === false) {
      if (res.body) void res.body.cancel().catch(() => {});
      return 'abandoned';
    }
    const session = takeUpgrade(res);
    if (session !== null && s.upgrade) return this.#upgrade(req, session, s.upgrade);
    if (session !== null) {
      res = plainAnswer(426, s.noUpgrade ?? NO_WEBSOCKETS);
      this.#status = 426;
    }
    s.body?.dropIfUntouched(req, res);
    try {
      await this.#write(req.method, res);
      this.#outcome = 'written';
    } catch (e) {
      this.#failed = true;
      this.#outcome = 'failed';
      log(`tsgi: response body failed on ${req.method} ${s.uri}: ${describeError(e)}`);
    }
    s.gone.settled();
    return this.#outcome;
  }

  /** The request became a WebSocket: counted and logged when it closes. */
  #upgrade(req: Request, session: Session<unknown>, carrier: UpgradeCarrier): ExchangeOutcome {
    const s = this.#s;
    s.gone.settled();
    session.attach(carrier.remoteAddress, s.counters?.upgraded?.(this.#id, session, () => s.facts(req, null)) ?? null);
    carrier.start(session);
    return (this.#outcome = 'upgraded');
  }

  /** Count the request (and write its log line), once the connection has done what follows the answer. */
  finish(): void {
    const s = this.#s;
    const req = this.#req;
    if (s.counters === undefined || req === null || this.#outcome === 'upgraded') return;
    const facts = this.#outcome === 'abandoned' ? undefined : () => s.facts(req, this.#head);
    s.counters.finished(this.#id, this.#status, this.#bytes, this.#failed, facts);
  }

  async #write(method: string, res: Response): Promise<void> {
    const s = this.#s;
    const w = s.writer(res);
    if (!bodyAllowed(method, res.status)) {
      s.conn.write((this.#head = w.bodyless()));
      if (res.body) void res.body.cancel().catch(() => {});
      return;
    }
    const whole = s.wholeBody?.(res) ?? null;
    if (whole !== null) {
      // As writeBody writes a body that came whole in one read: a known length, no framing.
      s.conn.write(concatBytes([(this.#head = w.head(whole.length)), whole]));
      this.#bytes = whole.length;
      return;
    }
    const head = (contentLength: number | undefined) => (this.#head = w.head(contentLength));
    this.#bytes = await writeBody(s.conn, res.body, { head, frame: w.frame, trailer: w.trailer }, s.gone);
  }
}
