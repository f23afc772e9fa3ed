import net from 'node:net';

/**
 * Watches what the MQTT clients of this process hand to the operating
 * system: every `_write` / `_writev` of a TCP socket whose first bytes are an
 * MQTT CONNECT, decoded into packets, one entry per write, together with
 * the packets each of those sockets receives. Other sockets (the broker's
 * side, HTTP) are passed through untouched.
 */

/** An MQTT packet as far as these tests need it. */
export type WirePacket =
  | { type: 'connect'; clientId: string }
  | { type: 'publish'; packetId: number | null; topic: string; payload: Buffer }
  | { type: 'puback'; packetId: number }
  | { type: 'other'; code: number };

export interface ClientSocket {
  socket: net.Socket;
  clientId: string;
}

export interface WireWatch {
  /**
   * Called for each write of an MQTT client socket, with its packets, before
   * they are handed to the operating system.
   */
  onWrite: ((client: ClientSocket, packets: WirePacket[]) => void) | null;
  /** Called for each packet an MQTT client socket receives. */
  onReceive: ((client: ClientSocket, packet: WirePacket) => void) | null;
  /** Every MQTT client socket opened since the watch started, in order. */
  readonly clients: ClientSocket[];
  /** Puts the sockets' own write functions back. */
  restore(): void;
}

type WriteFn = (chunk: Buffer | string, encoding: BufferEncoding, callback: (error?: Error | null) => void) => void;
type WritevFn = (chunks: { chunk: Buffer | string; encoding: BufferEncoding }[], callback: (error?: Error | null) => void) => void;

const CONNECT = 1;
const PUBLISH = 3;
const PUBACK = 4;

export function watchMqttWire(): WireWatch {
  const proto = net.Socket.prototype as unknown as { _write: WriteFn; _writev: WritevFn };
  const write = proto._write;
  const writev = proto._writev;
  /** Per socket: null for a socket that is not an MQTT client, else its decoders. */
  const sockets = new WeakMap<net.Socket, { client: ClientSocket; out: PacketDecoder } | null>();
  const watch: WireWatch = {
    onWrite: null,
    onReceive: null,
    clients: [],
    restore() {
      proto._write = write;
      proto._writev = writev;
    },
  };

  const observe = (socket: net.Socket, chunks: Buffer[]): void => {
    let state = sockets.get(socket);
    if (state === undefined) {
      // An MQTT client speaks first, with CONNECT; the broker's side starts with CONNACK, HTTP with text.
      const first = chunks.find((c) => c.length > 0);
      if (!first) return;
      state = first[0] === CONNECT << 4 ? { client: { socket, clientId: '' }, out: new PacketDecoder() } : null;
      sockets.set(socket, state);
      if (state) {
        const { client } = state;
        watch.clients.push(client);
        const incoming = new PacketDecoder();
        socket.on('data', (data: Buffer) => {
          for (const packet of incoming.push(data)) watch.onReceive?.(client, packet);
        });
      }
    }
    if (!state) return;
    const { client, out } = state;
    const packets = chunks.flatMap((chunk) => out.push(chunk));
    for (const packet of packets) if (packet.type === 'connect') client.clientId = packet.clientId;
    if (packets.length > 0) watch.onWrite?.(client, packets);
  };

  proto._write = function (this: net.Socket, chunk, encoding, callback) {
    observe(this, [toBuffer(chunk, encoding)]);
    write.call(this, chunk, encoding, callback);
  };
  proto._writev = function (this: net.Socket, chunks, callback) {
    observe(this, chunks.map((c) => toBuffer(c.chunk, c.encoding)));
    writev.call(this, chunks, callback);
  };
  return watch;
}

function toBuffer(chunk: Buffer | string, encoding: BufferEncoding): Buffer {
  return typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk;
}

/** Cuts a byte stream into MQTT 3.1.1 packets (fixed header, remaining length, body). */
class PacketDecoder {
  #pending: Buffer = Buffer.alloc(0);

  push(data: Buffer): WirePacket[] {
    this.#pending = Buffer.concat([this.#pending, data]);
    const packets: WirePacket[] = [];
    for (;;) {
      const header = remainingLength(this.#pending);
      if (!header || this.#pending.length < header.bodyStart + header.length) return packets;
      const first = this.#pending[0] as number;
      const body = this.#pending.subarray(header.bodyStart, header.bodyStart + header.length);
      this.#pending = this.#pending.subarray(header.bodyStart + header.length);
      packets.push(decode(first, body));
    }
  }
}

function remainingLength(buffer: Buffer): { length: number; bodyStart: number } | null {
  let length = 0;
  for (let i = 1; i <= 4 && i < buffer.length; i++) {
    const byte = buffer[i] as number;
    length += (byte & 0x7f) * 128 ** (i - 1);
    if ((byte & 0x80) === 0) return { length, bodyStart: i + 1 };
  }
  return null;
}

function decode(first: number, body: Buffer): WirePacket {
  const code = first >> 4;
  if (code === CONNECT) {
    // Protocol name, level, flags, keepalive, then the client id.
    const at = 2 + body.readUInt16BE(0) + 4;
    return { type: 'connect', clientId: body.subarray(at + 2, at + 2 + body.readUInt16BE(at)).toString() };
  }
  if (code === PUBLISH) {
    const topicLength = body.readUInt16BE(0);
    const topic = body.subarray(2, 2 + topicLength).toString();
    const qos = (first >> 1) & 3;
    const packetId = qos > 0 ? body.readUInt16BE(2 + topicLength) : null;
    return { type: 'publish', packetId, topic, payload: body.subarray(2 + topicLength + (qos > 0 ? 2 : 0)) };
  }
  if (code === PUBACK) return { type: 'puback', packetId: body.readUInt16BE(0) };
  return { type: 'other', code };
}
