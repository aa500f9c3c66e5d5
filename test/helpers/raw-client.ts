// Raw protocol packets a driver would send on a connection of its own, such as CancelRequest.
// https://www.postgresql.org/docs/current/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-CANCELREQUEST
import { connect } from 'node:net';

const CANCEL_REQUEST_CODE = 80877102;

export function cancelRequestPacket(processId: number, secretKey: number): Buffer {
  const packet = Buffer.alloc(16);
  packet.writeInt32BE(16, 0);
  packet.writeInt32BE(CANCEL_REQUEST_CODE, 4);
  packet.writeInt32BE(processId, 8);
  packet.writeInt32BE(secretKey, 12);
  return packet;
}

/**
 * Sends a CancelRequest on a new connection and resolves once the server closes it, which is all
 * the answer a CancelRequest ever gets.
 */
export function sendCancelRequest(host: string, port: number, processId: number, secretKey: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    socket.once('connect', () => socket.write(cancelRequestPacket(processId, secretKey)));
    socket.on('data', () => reject(new Error('a CancelRequest must not be answered')));
    socket.once('error', reject);
    socket.once('close', () => resolve());
  });
}
