// A byte pipe in Node with no protocol work at all: the floor of what any Node.js proxy built on
// net.Socket streams costs per statement. Optional benchmark target `nodepipe`.
//   node --import tsx bench/lib/node-pipe.ts LISTEN_PORT UPSTREAM_PORT
import { createServer, connect } from 'node:net';

const [listenPort, upstreamPort] = process.argv.slice(2).map(Number);
const server = createServer((client) => {
  client.setNoDelay(true);
  const upstream = connect({ host: '127.0.0.1', port: upstreamPort!, noDelay: true });
  client.on('data', (d) => { if (!upstream.write(d)) client.pause(); });
  upstream.on('data', (d) => { if (!client.write(d)) upstream.pause(); });
  client.on('drain', () => upstream.resume());
  upstream.on('drain', () => client.resume());
  const end = () => { client.destroy(); upstream.destroy(); };
  client.on('close', end); upstream.on('close', end);
  client.on('error', end); upstream.on('error', end);
});
server.listen(listenPort, '127.0.0.1');
process.on('SIGINT', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
