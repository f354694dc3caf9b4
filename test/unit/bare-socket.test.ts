// Runtime.bareBinder: listening sockets that no server of this process accepts on, for a master
// with no launcher in front. Bun and Deno bind with libc through their FFI (runtimes/bare-socket.ts;
// Deno's are not close-on-exec: its children inherit them in place), Node with its own handles in
// a thread that never runs its event loop (runtimes/node-bare.ts).
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ipv6Bytes } from '../../runtimes/bare-socket.ts';
import { getRuntime } from '../../runtimes/detect.ts';
import type { InheritableSocket } from '../../runtimes/types.ts';
import { cleanup, RUNTIME, tempDir } from '../helpers.ts';

afterAll(cleanup);

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** Connect to what a bare socket listens on: the kernel completes the handshake from its queue. */
function connects(target: net.NetConnectOpts): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(target, () => {
      c.destroy();
      resolve(true);
    });
    c.on('error', () => resolve(false));
  });
}

describe('IPv6 addresses as bytes', () => {
  it.each([
    ['::', '00000000000000000000000000000000'],
    ['::1', '00000000000000000000000000000001'],
    ['fe80::1:2', 'fe800000000000000000000000010002'],
    ['2001:db8:0:0:1:0:0:1', '20010db8000000000001000000000001'],
    ['::ffff:127.0.0.1', '00000000000000000000ffff7f000001'],
    ['1:2:3:4:5:6:7:8', '00010002000300040005000600070008'],
  ])('%s', (text, bytes) => {
    expect(hex(ipv6Bytes(text))).toBe(bytes);
  });
});

describe(`a bare listening socket (${RUNTIME})`, async () => {
  const rt = await getRuntime();
  const bind = await rt.bareBinder();

  it('exists on every runtime', () => {
    expect(bind).not.toBeNull();
  });

  it.runIf(RUNTIME === 'deno')('on Deno, an fd the children inherit at its own number: not close-on-exec', async () => {
    const s = await (bind as NonNullable<typeof bind>)({ kind: 'tcp', host: '127.0.0.1', port: 0 });
    try {
      expect(s.inPlace).toBe(true);
      const flags = Number.parseInt(/^flags:\s+(\d+)$/m.exec(readFileSync(`/proc/self/fdinfo/${s.fd}`, 'utf8'))?.[1] ?? '0', 8);
      expect(flags & 0o2000000).toBe(0);
    } finally {
      await s.close();
    }
  });

  describe.runIf(bind)('bound bare', () => {
    const binder = bind as NonNullable<typeof bind>;
    const open: InheritableSocket[] = [];
    afterAll(() => Promise.all(open.map((s) => s.close())));
    const bound = async (...args: Parameters<typeof binder>) => {
      const s = await binder(...args);
      open.push(s);
      return s;
    };

    it.each(['127.0.0.1', '::1', '::', 'localhost'])('TCP on %s, port 0: the kernel’s port, a connection is queued', async (host) => {
      const s = await bound({ kind: 'tcp', host, port: 0 });
      expect(s.address.kind).toBe('tcp');
      const port = s.address.kind === 'tcp' ? s.address.port : 0;
      expect(port).toBeGreaterThan(0);
      expect(await connects({ host: host === '::' ? '127.0.0.1' : host, port })).toBe(true);
    });

    it('a UNIX socket: the file is a socket that accepts connections', async () => {
      const path = join(tempDir(), 'bare.sock');
      await bound({ kind: 'unix', path });
      expect(existsSync(path)).toBe(true);
      expect(await connects({ path })).toBe(true);
    });

    it('errors carry the POSIX code: a port in use, an address not on this host, a missing directory', async () => {
      const s = await bound({ kind: 'tcp', host: '127.0.0.1', port: 0 });
      const port = s.address.kind === 'tcp' ? s.address.port : 0;
      await expect(binder({ kind: 'tcp', host: '127.0.0.1', port })).rejects.toMatchObject({ code: 'EADDRINUSE' });
      await expect(binder({ kind: 'tcp', host: '192.0.2.1', port: 0 })).rejects.toMatchObject({ code: 'EADDRNOTAVAIL' });
      // libuv reports a missing directory as EACCES (src/worker/bind.ts says what is wrong from the file system).
      await expect(binder({ kind: 'unix', path: '/nonexistent-dir/x.sock' })).rejects.toMatchObject({ code: RUNTIME === 'node' ? 'EACCES' : 'ENOENT' });
    });

    it('close() closes it: a connection is refused after', async () => {
      const s = await binder({ kind: 'tcp', host: '127.0.0.1', port: 0 });
      const port = s.address.kind === 'tcp' ? s.address.port : 0;
      await s.close();
      expect(await connects({ host: '127.0.0.1', port })).toBe(false);
    });
  });
});

describe.runIf(RUNTIME === 'node')('Node without tcp_wrap and pipe_wrap bindings', () => {
  it('has no binder, so tsgi keeps a launcher (a Node that drops process.binding still starts)', async () => {
    const { ListenThread } = await import('../../runtimes/node-bare.ts');
    const node = process as unknown as { binding: (name: string) => unknown };
    const binding = node.binding;
    node.binding = () => {
      throw new Error('no such binding');
    };
    try {
      expect(ListenThread.start()).toBeNull();
    } finally {
      node.binding = binding;
    }
  });
});
