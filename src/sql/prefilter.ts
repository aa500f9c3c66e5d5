// The cheapest possible test of a Query/Parse body, on its bytes, before any decoding: a statement
// that is ours names a `vector…` function or setting, or is a COPY (which may target a collection).
// Anything else passes through without being decoded or parsed.

const V = 0x76;
const C = 0x63;
const VECTOR = [0x65, 0x63, 0x74, 0x6f, 0x72]; // "ector"
const COPY = [0x6f, 0x70, 0x79]; // "opy"

function matchesAt(buf: Uint8Array, at: number, rest: readonly number[]): boolean {
  if (at + rest.length >= buf.length) return false;
  for (let i = 0; i < rest.length; i++) if ((buf[at + 1 + i]! | 0x20) !== rest[i]) return false;
  return true;
}

/** True when bytes [start, end) may contain a statement of ours (ASCII case-insensitive). */
export function mayBeOurs(buf: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const b = buf[i]! | 0x20;
    if (b === V && matchesAt(buf, i, VECTOR)) return true;
    if (b === C && matchesAt(buf, i, COPY)) return true;
  }
  return false;
}
