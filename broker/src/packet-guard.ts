import { Transform, type TransformCallback } from 'node:stream';

/**
 * Reads MQTT fixed headers as bytes go by and refuses an oversized packet
 * from its header, before anything buffers the whole packet. Bytes are not
 * copied or changed; feed it every chunk of a connection, in order.
 */
export class PacketSizeScanner {
  readonly #maxPacketBytes: number;
  // Bytes of the current packet's body still to pass, or -1 while reading a fixed header.
  #remaining = -1;
  #header: number[] = [];

  constructor(maxPacketBytes: number) {
    this.#maxPacketBytes = maxPacketBytes;
  }

  /** Null while every packet so far fits; the error for the first that does not. */
  scan(chunk: Buffer): PacketTooLargeError | null {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.#remaining > 0) {
        const take = Math.min(this.#remaining, chunk.length - offset);
        this.#remaining -= take;
        offset += take;
        if (this.#remaining === 0) this.#remaining = -1;
        continue;
      }
      // Fixed header: 1 type byte, then a 1–4 byte variable-length integer.
      this.#header.push(chunk[offset++] ?? 0);
      if (this.#header.length === 1) continue;
      const last = this.#header[this.#header.length - 1] ?? 0;
      if (last & 0x80) {
        if (this.#header.length > 4) return new PacketTooLargeError('malformed remaining length');
        continue;
      }
      let length = 0;
      for (let i = this.#header.length - 1; i >= 1; i--) length = length * 128 + ((this.#header[i] ?? 0) & 0x7f);
      this.#header = [];
      if (length > this.#maxPacketBytes) return new PacketTooLargeError(`packet of ${length} bytes exceeds ${this.#maxPacketBytes}`);
      this.#remaining = length === 0 ? -1 : length;
    }
    return null;
  }
}

/** The scanner as a pass-through stream, for a connection that is a stream pipeline. */
export class PacketSizeGuard extends Transform {
  readonly #scanner: PacketSizeScanner;

  constructor(maxPacketBytes: number) {
    super();
    this.#scanner = new PacketSizeScanner(maxPacketBytes);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const error = this.#scanner.scan(chunk);
    if (error) return callback(error);
    callback(null, chunk);
  }
}

export class PacketTooLargeError extends Error {
  override name = 'PacketTooLargeError';
}
