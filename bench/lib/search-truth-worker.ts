// One worker thread of the ground-truth scan: its range of the shared base rows, every query.
import { parentPort, workerData } from 'node:worker_threads';
import { scanRange, type ScanInput } from './search-truth-scan.ts';

const { input, from, to } = workerData as { input: ScanInput; from: number; to: number };
const result = scanRange(input, from, to);
parentPort!.postMessage(result, [result.ids.buffer as ArrayBuffer, result.scores.buffer as ArrayBuffer]);
