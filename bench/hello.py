# The uWSGI side of bench/socket-vs-uwsgi.sh: the same hello world as examples/hello.ts.
def application(env, start_response):
    body = ('Hello from tsgi: %s %s\n' % (env['REQUEST_METHOD'], env['PATH_INFO'])).encode()
    start_response('200 OK', [('Content-Type', 'text/plain; charset=utf-8'), ('Content-Length', str(len(body)))])
    return [body]
