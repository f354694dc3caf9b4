/** --http-to-https: every request gets 308 to the same host and path on the https port (443 left out of the URL). */
export function toHttps(req: Request, port: number): Response {
  const url = new URL(req.url);
  url.protocol = 'https:';
  url.port = port === 443 ? '' : String(port);
  return new Response(null, { status: 308, headers: { location: url.href, 'content-length': '0' } });
}
