/**
 * npm run model -- --out <file> [--seed N]
 * Writes the tiny GGUF model and prints its path, size and sha256.
 */
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { DEFAULT_TINY_MODEL_SEED, writeTinyModel } from './index.ts';

const USAGE = 'usage: npm run model -- --out <file> [--seed N]';

function fail(message: string): never {
  process.stderr.write(`${message}\n${USAGE}\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  let values: { out?: string | undefined; seed?: string | undefined; help?: boolean | undefined };
  try {
    ({ values } = parseArgs({
      options: {
        out: { type: 'string', short: 'o' },
        seed: { type: 'string', short: 's' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (!values.out) fail('--out is required');
  const seed = values.seed === undefined ? DEFAULT_TINY_MODEL_SEED : Number(values.seed);
  if (!Number.isSafeInteger(seed) || seed < 0) fail(`--seed must be a non-negative integer, got ${values.seed}`);

  // npm runs scripts from the repository root; a relative --out means the caller's folder.
  const model = await writeTinyModel({ path: resolve(process.env.INIT_CWD ?? process.cwd(), values.out), seed });
  process.stdout.write(`path   ${model.path}\nsize   ${model.size}\nsha256 ${model.sha256}\n`);
}

await main();
