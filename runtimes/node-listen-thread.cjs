// The thread behind runtimes/node-bare.ts: it binds and listens through Node's own TCP and pipe
// handles, then waits on a shared buffer and never returns to its event loop, so nothing in this
// process accepts on those sockets. Each request is one JSON text in the buffer; so is each answer.
'use strict';
const { workerData } = require('node:worker_threads');
const { getSystemErrorName } = require('node:util');

const ASKED = 1;
const ANSWERED = 2;
const control = new Int32Array(workerData, 0, 2);
const bytes = new Uint8Array(workerData, 8);
const { TCP, constants: tcp } = process.binding('tcp_wrap');
const { Pipe, constants: pipe } = process.binding('pipe_wrap');
/** fd → handle: a handle that is collected would close its fd. */
const handles = new Map();

function failed(call, code) {
  return { call, code: getSystemErrorName(code) };
}

function listen(request) {
  const handle = request.kind === 'unix' ? new Pipe(pipe.SERVER) : new TCP(tcp.SERVER);
  const bound =
    request.kind === 'unix' ? handle.bind(request.path) : request.v6 ? handle.bind6(request.ip, request.port, 0) : handle.bind(request.ip, request.port);
  if (bound !== 0) return failed('bind', bound);
  const listening = handle.listen(request.backlog);
  if (listening !== 0) {
    handle.close();
    return failed('listen', listening);
  }
  handles.set(handle.fd, handle);
  if (request.kind === 'unix') return { fd: handle.fd };
  const name = {};
  handle.getsockname(name);
  return { fd: handle.fd, port: name.port };
}

function close(request) {
  handles.get(request.fd)?.close();
  handles.delete(request.fd);
  return {};
}

function answer(request) {
  try {
    return request.kind === 'close' ? close(request) : listen(request);
  } catch (e) {
    return { call: request.kind, code: 'EINVAL', message: String(e) };
  }
}

for (;;) {
  for (let state = Atomics.load(control, 0); state !== ASKED; state = Atomics.load(control, 0)) Atomics.wait(control, 0, state);
  const request = JSON.parse(new TextDecoder().decode(bytes.slice(0, control[1])));
  const text = new TextEncoder().encode(JSON.stringify(answer(request)));
  bytes.set(text);
  control[1] = text.length;
  Atomics.store(control, 0, ANSWERED);
  Atomics.notify(control, 0);
}
