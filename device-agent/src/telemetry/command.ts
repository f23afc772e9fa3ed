/** Running a helper program (vcgencmd, nvidia-smi) without blocking the event loop. */
import { execFile } from 'node:child_process';

/** Runs `file` with `args` and resolves with its stdout; rejects with the Node error (code ENOENT when absent). */
export type CommandRunner = (file: string, args: readonly string[], options: { timeoutMs: number }) => Promise<string>;

export const execFileRunner: CommandRunner = (file, args, { timeoutMs }) =>
  new Promise((resolve, reject) => {
    execFile(file, [...args], { timeout: timeoutMs, maxBuffer: 64 * 1024, encoding: 'utf8' }, (error, stdout) => {
      if (error) reject(error);
      else resolve(stdout);
    });
  });
