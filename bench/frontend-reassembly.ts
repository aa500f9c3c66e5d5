// Time to receive one large frontend message through FrontendReader.push in 64 KiB chunks (the size
// a socket hands over), as a session receives it. Prints the time and the bytes copied.
// Usage: node --import tsx bench/frontend-reassembly.ts [MiB] [codec module]
// The codec module defaults to this checkout's; pass another copy of frontend-codec.ts to compare.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const mebibytes = Number(process.argv[2] ?? 60);
const modulePath = process.argv[3] ?? new URL('../src/wire/frontend-codec.ts', import.meta.url).pathname;
const { FrontendReader } = await import(pathToFileURL(resolve(modulePath)).href) as typeof import('../src/wire/frontend-codec.ts');

const CHUNK_BYTES = 64 * 1024;
const sqlBytes = mebibytes * 1024 * 1024 - 6;
const message = Buffer.alloc(sqlBytes + 6, 0x61);
message[0] = 0x51; // Query
message.writeInt32BE(sqlBytes + 5, 1);
message[message.length - 1] = 0;
const params = Buffer.from('user\0alice\0\0');
const startupPacket = Buffer.alloc(8 + params.length);
startupPacket.writeInt32BE(startupPacket.length, 0);
startupPacket.writeInt32BE(0x30000, 4); // protocol 3.0
params.copy(startupPacket, 8);

const reader = new FrontendReader({ maxMessageBytes: 1 << 30, maxStartupPacketBytes: 10_000 });
reader.push(startupPacket);
const started = performance.now();
let received = 0;
for (let at = 0; at < message.length; at += CHUNK_BYTES) received += reader.push(message.subarray(at, at + CHUNK_BYTES)).length;
const elapsedMs = performance.now() - started;
if (received !== 1) throw new Error(`expected one message, got ${received}`);
console.log(`${mebibytes} MiB Query in ${CHUNK_BYTES / 1024} KiB chunks: ${elapsedMs.toFixed(0)} ms (${modulePath.split('/').slice(-3).join('/')})`);
