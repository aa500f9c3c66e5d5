// Frames the upstream's backend message stream without copying it: each message's header decides
// whether its bytes stream through to the client as they arrive, are held whole (small messages the
// session must read or rewrite), or are swallowed. Contiguous forwarded bytes leave as one slice.
// https://www.postgresql.org/docs/current/protocol-overview.html#PROTOCOL-MESSAGE-CONCEPTS

export const enum Disposition {
  /** Forward bytes as they arrive; `onEnd` is told when the message is complete. */
  Stream,
  /** Collect the whole message, then `onHeld` returns what to forward (or null). */
  Hold,
  /** Drop the bytes; `onEnd` is told when the message is complete. */
  Swallow,
}

export interface BackendSink {
  onHeader(code: number, bodyLength: number): Disposition;
  onHeld(code: number, raw: Buffer): Buffer | null;
  onEnd(code: number): void;
}

const HEADER_BYTES = 5;

export class BackendFramer {
  private header = Buffer.alloc(HEADER_BYTES);
  private headerFill = 0;
  private code = 0;
  private remaining = 0;
  private disposition = Disposition.Stream;
  private held: Buffer | null = null;
  private heldFill = 0;
  private out: Buffer[] = [];
  private lastSliceEnd = -1;
  private chunk: Buffer | null = null;

  constructor(private readonly sink: BackendSink, private readonly maxHeldBytes: number) {}

  /** Consumes a chunk; returns the buffers to write to the client, in order. */
  push(chunk: Buffer): Buffer[] {
    this.chunk = chunk;
    this.out = [];
    this.lastSliceEnd = -1;
    let offset = 0;
    while (offset < chunk.length) {
      if (this.headerFill < HEADER_BYTES) {
        offset = this.readHeader(chunk, offset);
        continue;
      }
      const n = Math.min(this.remaining, chunk.length - offset);
      this.body(offset, n);
      offset += n;
      this.remaining -= n;
      if (this.remaining === 0) this.finish();
    }
    this.chunk = null;
    return this.out;
  }

  private readHeader(chunk: Buffer, offset: number): number {
    const n = Math.min(HEADER_BYTES - this.headerFill, chunk.length - offset);
    const startedHere = this.headerFill === 0;
    chunk.copy(this.header, this.headerFill, offset, offset + n);
    this.headerFill += n;
    if (this.headerFill < HEADER_BYTES) return offset + n;
    this.code = this.header[0]!;
    const length = this.header.readInt32BE(1);
    if (length < 4) throw new Error(`upstream sent a message of invalid length ${length}`);
    this.remaining = length - 4;
    this.disposition = this.sink.onHeader(this.code, this.remaining);
    if (this.disposition === Disposition.Hold && startedHere && offset + length + 1 <= chunk.length) {
      return this.holdInPlace(offset, length + 1);
    }
    if (this.disposition === Disposition.Hold) {
      if (length + 1 > this.maxHeldBytes) throw new Error(`upstream message of ${length} bytes is too large to inspect`);
      this.held = Buffer.allocUnsafe(length + 1);
      this.header.copy(this.held, 0);
      this.heldFill = HEADER_BYTES;
    } else if (this.disposition === Disposition.Stream) {
      if (startedHere) this.emitSlice(offset, offset + HEADER_BYTES);
      else this.emit(Buffer.from(this.header));
    }
    if (this.remaining === 0) this.finish();
    return offset + n;
  }

  /** A held message wholly inside this chunk is read where it lies; unchanged, it joins the slice. */
  private holdInPlace(start: number, length: number): number {
    if (length > this.maxHeldBytes) throw new Error(`upstream message of ${length} bytes is too large to inspect`);
    const raw = this.chunk!.subarray(start, start + length);
    this.headerFill = 0;
    this.remaining = 0;
    const forward = this.sink.onHeld(this.code, raw);
    if (forward === raw) this.emitSlice(start, start + length);
    else if (forward !== null) this.emit(forward);
    return start + length;
  }

  private body(offset: number, n: number): void {
    if (n === 0) return;
    if (this.disposition === Disposition.Stream) this.emitSlice(offset, offset + n);
    else if (this.disposition === Disposition.Hold) {
      this.chunk!.copy(this.held!, this.heldFill, offset, offset + n);
      this.heldFill += n;
    }
  }

  private finish(): void {
    this.headerFill = 0;
    if (this.disposition === Disposition.Hold) {
      const raw = this.held!;
      this.held = null;
      const forward = this.sink.onHeld(this.code, raw);
      if (forward !== null) this.emit(forward);
    } else {
      this.sink.onEnd(this.code);
    }
  }

  private emitSlice(start: number, end: number): void {
    const chunk = this.chunk!;
    const last = this.out.length - 1;
    if (this.lastSliceEnd === start && last >= 0) {
      const prev = this.out[last]!;
      this.out[last] = chunk.subarray(start - prev.length, end);
    } else {
      this.out.push(chunk.subarray(start, end));
    }
    this.lastSliceEnd = end;
  }

  private emit(buf: Buffer): void {
    this.out.push(buf);
    this.lastSliceEnd = -1;
  }
}
