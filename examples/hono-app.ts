// A Hono app exported as `app`, for `--callable app` (uWSGI's Flask-style `--callable app`).
import { Hono } from 'hono';

export const app = new Hono();

app.get('/', (c) => c.text('Hello from Hono on tsgi\n'));
app.get('/hello/:name', (c) => c.json({ hello: c.req.param('name') }));
app.post('/echo', async (c) => c.body(await c.req.arrayBuffer(), 200, { 'content-type': c.req.header('content-type') ?? 'application/octet-stream' }));
