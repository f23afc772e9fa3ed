/**
 * The parent's handle on one worker process: forks it, waits for 'ready',
 * passes messages, keeps the tail of its stderr for crash reports, and says
 * how it ended.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { isWorkerMessage, type ParentMessage, type WorkerConfig, type WorkerMessage } from './protocol.ts';

export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Last lines the worker wrote to stderr (e.g. a GGML_ASSERT message). */
  stderrTail: string;
  /** True when stop() asked for it. */
  requested: boolean;
}

export interface WorkerProcessEvents {
  onMessage: (message: Exclude<WorkerMessage, { kind: 'ready' }>) => void;
  onStderrLine: (line: string) => void;
  onExit: (exit: WorkerExit) => void;
}

const STDERR_TAIL_BYTES = 2048;

/**
 * The worker is TypeScript run through tsx: the parent runs under tsx too
 * (`tsx` or `node --import tsx`). execArgv is set rather than inherited so
 * flags such as `--test` never reach the worker, and tsx is named by its
 * resolved location so the worker starts whatever the working directory.
 */
function workerCommand(): { modulePath: string; execArgv: string[] } {
  const source = import.meta.url.endsWith('.ts');
  const modulePath = fileURLToPath(new URL(source ? './worker.ts' : './worker.js', import.meta.url));
  return { modulePath, execArgv: source ? ['--import', import.meta.resolve('tsx')] : [] };
}

export class WorkerProcess {
  readonly #child: ChildProcess;
  readonly #exited: Promise<WorkerExit>;
  #stderrTail = '';
  #stopRequested = false;
  #alive = true;

  private constructor(child: ChildProcess, events: WorkerProcessEvents, ready: () => void) {
    this.#child = child;
    let pendingLine = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      this.#stderrTail = (this.#stderrTail + chunk).slice(-STDERR_TAIL_BYTES);
      const lines = (pendingLine + chunk).split('\n');
      pendingLine = lines.pop() ?? '';
      for (const line of lines) if (line.trim()) events.onStderrLine(line);
    });
    // A send racing the worker's death fails here; the exit that follows reports it.
    child.on('error', () => {});
    child.on('message', (message: unknown) => {
      if (!isWorkerMessage(message)) return;
      if (message.kind === 'ready') ready();
      else events.onMessage(message);
    });
    // Dead from 'exit' on: no new request goes to it while stderr drains before 'close'.
    child.once('exit', () => {
      this.#alive = false;
    });
    this.#exited = new Promise((resolve) => {
      // 'close' rather than 'exit': it fires after stderr is drained, so the tail is complete.
      child.once('close', (code, signal) => {
        this.#alive = false;
        const exit = { code, signal, stderrTail: this.#stderrTail.trim(), requested: this.#stopRequested };
        events.onExit(exit);
        resolve(exit);
      });
    });
  }

  /** Forks a worker and resolves once it can take requests. */
  static start(config: WorkerConfig, events: WorkerProcessEvents): Promise<WorkerProcess> {
    const { modulePath, execArgv } = workerCommand();
    return new Promise((resolve, reject) => {
      const child = fork(modulePath, [JSON.stringify(config)], {
        execArgv,
        stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
        serialization: 'json',
      });
      let state: 'starting' | 'ready' | 'failed' = 'starting';
      const fail = (error: Error): void => {
        if (state !== 'starting') return;
        state = 'failed';
        child.kill('SIGKILL');
        reject(error);
      };
      const worker = new WorkerProcess(
        child,
        {
          ...events,
          onExit: (exit) => {
            // Before 'ready' the caller has no worker yet: the exit is a failed start, not a crash.
            if (state === 'ready') {
              events.onExit(exit);
              return;
            }
            const how = exit.signal ? `signal ${exit.signal}` : `code ${String(exit.code)}`;
            fail(new Error(`the llama worker exited during startup (${how})${exit.stderrTail ? `: ${exit.stderrTail}` : ''}`));
          },
        },
        () => {
          if (state !== 'starting') return;
          state = 'ready';
          resolve(worker);
        },
      );
      child.once('error', fail);
    });
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  get alive(): boolean {
    return this.#alive;
  }

  send(message: ParentMessage): void {
    if (this.#alive && this.#child.connected) this.#child.send(message, () => {});
  }

  /** Whether an idle worker keeps the parent's event loop alive. */
  setKeepsParentAlive(keep: boolean): void {
    const channel = this.#child.channel as { ref(): void; unref(): void } | null | undefined;
    // The stderr pipe holds the loop too.
    const stderr = this.#child.stderr as { ref?(): void; unref?(): void } | null;
    if (keep) {
      this.#child.ref();
      channel?.ref();
      stderr?.ref?.();
    } else {
      this.#child.unref();
      channel?.unref();
      stderr?.unref?.();
    }
  }

  /** Ends the worker and resolves when it is gone. */
  async stop(): Promise<WorkerExit> {
    if (this.#alive) {
      this.#stopRequested = true;
      // An idle worker is unref'd; hold the loop until its exit is seen.
      this.setKeepsParentAlive(true);
      this.#child.kill('SIGKILL');
    }
    return this.#exited;
  }
}
