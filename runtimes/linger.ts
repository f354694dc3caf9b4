/**
 * How long a connection that was closed from our side (FIN sent) may go on sending before it is
 * dropped: bytes still arriving are read and thrown away meanwhile, since closing over unread
 * bytes resets the connection under the answer.
 */
export const LINGER_MS = 5000;
