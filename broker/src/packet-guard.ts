import { Transform, type TransformCallback } from 'node:stream';

/**
 * Sits between a socket and aedes and refuses oversized MQTT packets from
 * their fixed header, before aedes' parser buffers the whole packet.
 * Bytes pass through unchanged.
 */
export class PacketSizeGuard extends Transform {
  readonly #maxPacketBytes: number;
  // Bytes of the current packet's body still to pass, or -1 while reading a fixed header.
  #remaining = -1;
  #header: number[] = [];

  constructor(maxPacketBytes: number) {
    super();
    this.#maxPacketBytes = maxPacketBytes;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
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
        if (this.#header.length > 4) return callback(new PacketTooLargeError('malformed remaining length'));
        continue;
      }
      let length = 0;
      for (let i = this.#header.length - 1; i >= 1; i--) length = length * 128 + ((this.#header[i] ?? 0) & 0x7f);
      this.#header = [];
      if (length > this.#maxPacketBytes) {
        return callback(new PacketTooLargeError(`packet of ${length} bytes exceeds ${this.#maxPacketBytes}`));
      }
      this.#remaining = length === 0 ? -1 : length;
    }
    callback(null, chunk);
  }
}

export class PacketTooLargeError extends Error {
  override name = 'PacketTooLargeError';
}
