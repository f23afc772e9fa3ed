/** Reads the GPU: found once through systeminformation, then live figures from nvidia-smi where it answers. */
import type { CommandRunner } from './command.ts';
import { type GraphicsControllerLike, NVIDIA_SMI_ARGS, gpuFromControllers, parseNvidiaSmi } from './gpu.ts';
import type { GpuSample } from './sample.ts';

export interface GpuReaderOptions {
  /** Lists graphics controllers (systeminformation's `graphics()`); slow and partly synchronous, so called once. */
  discover: () => Promise<readonly GraphicsControllerLike[]>;
  runCommand: CommandRunner;
  timeoutMs: number;
}

/**
 * systeminformation's `graphics()` runs lspci, dmidecode and nvidia-smi, some
 * synchronously, so it is asked once. When it found live figures (an NVIDIA
 * GPU with nvidia-smi), later samples ask nvidia-smi alone, asynchronously.
 * Other GPUs (Raspberry Pi VideoCore, Jetson) report their name and memory
 * only; live fields stay null.
 */
export function createGpuReader(options: GpuReaderOptions): () => Promise<GpuSample | null> {
  let found: GpuSample | null | undefined;
  let live = false;
  return async () => {
    if (found === undefined) {
      found = gpuFromControllers(await options.discover());
      live = found !== null && found.utilizationPercent !== null;
      return found;
    }
    if (found === null || !live) return found;
    const figures = parseNvidiaSmi(await options.runCommand('nvidia-smi', NVIDIA_SMI_ARGS, { timeoutMs: options.timeoutMs }));
    return figures === null ? found : { name: found.name, ...figures };
  };
}
