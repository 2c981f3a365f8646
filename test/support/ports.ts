import { connect } from 'node:net';

// Moved to src/util for the test kit (src/testing), which starts dev servers of its own.
export { freePort } from '../../src/util/ports';

/** Whether something accepts connections on 127.0.0.1:`port` right now. */
export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}
