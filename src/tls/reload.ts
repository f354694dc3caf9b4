/**
 * Certificates that change without downtime: on SIGHUP and when one of the files changes (polled
 * each second, as --touch-reload), each TLS listener of the process is given the certificates
 * read afresh; new handshakes use them, established connections keep theirs. A new certificate
 * that cannot be used is logged (one line: which file, why) and the old one stays.
 */
import type { Listener, TlsMaterial } from '../../runtimes/types.ts';
import { log } from '../log.ts';
import { TouchReload } from '../master/touch.ts';

export interface TlsPortWatch {
  /** How the log names the port ("https socket 0 (127.0.0.1:8443)"). */
  what: string;
  listener: Listener;
  /** Read and check the files again (throws TlsError naming the file). */
  load(): TlsMaterial;
  /** The files to watch (relative to cwd). */
  files: string[];
}

export class CertReload {
  readonly #ports: TlsPortWatch[] = [];
  readonly #cwd: string;

  constructor(cwd: string) {
    this.#cwd = cwd;
  }

  /** Watch a port's files from now on. */
  add(port: TlsPortWatch): void {
    this.#ports.push(port);
    new TouchReload(port.files, this.#cwd, (why) => this.#reloadOne(port, why), { unref: true });
  }

  /** Every port, now (SIGHUP). */
  reload(why: string): void {
    for (const p of this.#ports) this.#reloadOne(p, why);
  }

  #reloadOne(port: TlsPortWatch, why: string): void {
    let next: TlsMaterial;
    try {
      next = port.load();
      port.listener.setTls?.(next);
    } catch (e) {
      log(`tsgi: ${port.what}: ${(e as Error).message}: keeping the certificates in use (${why})`);
      return;
    }
    log(`tsgi: ${port.what}: certificates reloaded (${why})`);
  }
}
