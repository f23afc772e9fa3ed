// Starts a local anvil devnet for tests, the demo and development.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { toHex, type Hex } from 'viem';
import { mnemonicToAccount } from 'viem/accounts';
import { AnvilStartError } from '../errors.ts';
import { resolveFoundryBinary } from '../foundry/binary.ts';

/** anvil's default mnemonic: the accounts every Foundry user knows. Never use it on a real chain. */
export const ANVIL_MNEMONIC = 'test test test test test test test test test test test junk';

export interface StartAnvilParameters {
  /** TCP port on 127.0.0.1; 0 (the default) picks a free one. */
  port?: number;
  /** How many funded accounts to create (default 10). */
  accounts?: number;
  /** Path of the anvil executable (default: the one from @foundry-rs/anvil). */
  binary?: string;
  /** How long to wait for anvil to answer, in ms (default 30 000). */
  startTimeoutMs?: number;
}

export interface StartAnvilReturnType {
  /** http://127.0.0.1:<port> */
  rpcUrl: string;
  chainId: number;
  /** Private keys of the funded accounts, derived from {@link ANVIL_MNEMONIC} (m/44'/60'/0'/0/i). */
  accounts: readonly Hex[];
  /** Stops anvil and waits for it to exit. Safe to call more than once. */
  stop(): Promise<void>;
}

const LISTENING = /Listening on 127\.0\.0\.1:(\d+)/;
const OUTPUT_TAIL = 4096;
const STOP_GRACE_MS = 5000;

/** Spawns anvil on 127.0.0.1 and resolves once it answers JSON-RPC. */
export async function startAnvil(options: StartAnvilParameters = {}): Promise<StartAnvilReturnType> {
  const { port = 0, accounts = 10, startTimeoutMs = 30_000 } = options;
  const binary = options.binary ?? resolveFoundryBinary('anvil');
  const child = spawn(
    binary,
    ['--host', '127.0.0.1', '--port', String(port), '--accounts', String(accounts), '--mnemonic', ANVIL_MNEMONIC],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );

  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_TAIL);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);

  // Settles once the process is gone (or never started: spawn reports ENOENT through 'error').
  let running = true;
  const closed = new Promise<void>((resolve) => {
    const done = (): void => {
      running = false;
      resolve();
    };
    child.once('exit', done);
    child.once('error', () => {
      if (child.pid === undefined) done();
    });
  });
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  const stop = async (): Promise<void> => {
    process.removeListener('exit', killOnExit);
    if (running) {
      child.kill('SIGTERM');
      const force = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      force.unref();
      await closed;
      clearTimeout(force);
    }
  };

  try {
    const boundPort = await waitForListening(child, startTimeoutMs, () => output);
    const rpcUrl = `http://127.0.0.1:${boundPort}`;
    const chainId = await requestChainId(rpcUrl, startTimeoutMs);
    const privateKeys = Array.from({ length: accounts }, (_, addressIndex) => {
      const key = mnemonicToAccount(ANVIL_MNEMONIC, { addressIndex }).getHdKey().privateKey;
      if (!key) throw new AnvilStartError('could not derive the anvil account keys');
      return toHex(key);
    });
    return { rpcUrl, chainId, accounts: privateKeys, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Resolves with the port from anvil's "Listening on" line; rejects if it fails, exits or takes too long. */
function waitForListening(child: ChildProcessByStdio<null, Readable, Readable>, timeoutMs: number, output: () => string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let seen = '';
    const cleanup = (): void => {
      clearTimeout(timer);
      child.stdout.removeListener('data', onData);
      child.removeListener('exit', onExit);
      child.removeListener('error', onError);
    };
    const onData = (chunk: Buffer): void => {
      seen = (seen + chunk.toString('utf8')).slice(-OUTPUT_TAIL);
      const port = LISTENING.exec(seen)?.[1];
      if (port) {
        cleanup();
        resolve(Number(port));
      }
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      cleanup();
      reject(
        new AnvilStartError(`anvil exited before listening (code ${String(code)}, signal ${String(signal)})`, {
          details: output(),
        }),
      );
    };
    const onError = (cause: Error): void => {
      cleanup();
      reject(new AnvilStartError('could not run anvil', { details: cause.message, cause }));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new AnvilStartError(`anvil did not start listening within ${timeoutMs} ms`, { details: output() }));
    }, timeoutMs);
    child.stdout.on('data', onData);
    child.once('exit', onExit);
    child.once('error', onError);
  });
}

/** One eth_chainId request: anvil has bound its socket when it prints the listening line. */
async function requestChainId(rpcUrl: string, timeoutMs: number): Promise<number> {
  let response: Response;
  try {
    response = await fetch(rpcUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (cause) {
    throw new AnvilStartError(`anvil at ${rpcUrl} did not answer eth_chainId`, { cause });
  }
  const body: unknown = await response.json();
  if (typeof body !== 'object' || body === null || !('result' in body) || typeof body.result !== 'string') {
    throw new AnvilStartError(`anvil at ${rpcUrl} gave an unexpected eth_chainId answer`, {
      details: JSON.stringify(body),
    });
  }
  return Number.parseInt(body.result, 16);
}
