import type { JobStatus } from './api-client.ts';

/**
 * Operator-facing progress on stderr: a redrawn bar on a terminal, one line
 * per change otherwise (logs, CI).
 */
export class ProgressView {
  readonly #stream: NodeJS.WriteStream;
  #last = '';

  constructor(stream: NodeJS.WriteStream = process.stderr) {
    this.#stream = stream;
  }

  update(status: JobStatus): void {
    const { progress, job } = status;
    const working = new Set(status.shards.filter((s) => s.state === 'leased').map((s) => s.nodeId)).size;
    const done = progress.inputs.completed;
    const total = progress.inputs.total;
    const width = 24;
    const filled = total === 0 ? width : Math.round((done / total) * width);
    const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
    const text = `${job.id} [${bar}] ${done}/${total} inputs · ${progress.shards.completed}/${progress.shards.total} shards · ${working} node${working === 1 ? '' : 's'} working · ${job.state}`;
    if (text === this.#last) return;
    this.#last = text;
    if (this.#stream.isTTY) this.#stream.write(`\r\x1b[2K${text}`);
    else this.#stream.write(`${text}\n`);
  }

  done(): void {
    if (this.#stream.isTTY && this.#last) this.#stream.write('\n');
  }
}
