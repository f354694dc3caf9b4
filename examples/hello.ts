// The smallest tsgi app: a default-exported fetch handler.
export default function hello(req: Request): Response {
  const url = new URL(req.url);
  return new Response(`Hello from tsgi: ${req.method} ${url.pathname}\n`, {
    headers: { 'content-type': 'text/plain; charset=utf-8' },
  });
}
