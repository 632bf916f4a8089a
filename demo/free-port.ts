// Picks a TCP port that is currently free on one specific (loopback) address.
import { createServer } from 'node:net';

/**
 * Binds port 0 on `host`, reads the port the kernel chose and releases it. Another process could
 * grab it before the caller binds; acceptable for test clusters whose ports are picked just before use.
 */
export function findFreePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close((err) => (err ? reject(err) : port > 0 ? resolve(port) : reject(new Error('no port'))));
    });
  });
}
