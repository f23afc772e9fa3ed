// `npm run build -w contracts`: compiles the contracts with solc-js and writes src/generated/artifacts.ts.
// `npm run build -w contracts -- --check`: exits 1 if that file is out of date.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileContracts } from './compile.ts';
import { renderArtifacts } from './render.ts';
import { computeSourceHash, packageRoot, readSources } from './sources.ts';

const target = join(packageRoot, 'src/generated/artifacts.ts');

function main(): void {
  const check = process.argv.includes('--check');
  const started = performance.now();
  const sources = readSources();
  const { compilerVersion, artifacts, warnings } = compileContracts(sources);
  for (const warning of warnings) process.stderr.write(`${warning}\n`);
  const text = renderArtifacts({ sourceHash: computeSourceHash(sources), compilerVersion, artifacts });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);

  let current = '';
  try {
    current = readFileSync(target, 'utf8');
  } catch {
    // first build
  }
  if (check) {
    if (current !== text) {
      process.stderr.write(`${target} is out of date: run \`npm run build -w contracts\`\n`);
      process.exitCode = 1;
    } else {
      process.stdout.write(`${target} is up to date (${compilerVersion}, ${seconds} s)\n`);
    }
    return;
  }
  if (current === text) {
    process.stdout.write(`unchanged ${target} (${compilerVersion}, ${seconds} s)\n`);
    return;
  }
  writeFileSync(target, text);
  const sizes = artifacts.map((a) => `${a.contractName} ${(a.bytecode.length - 2) / 2} B`).join(', ');
  process.stdout.write(`wrote ${target}: ${sizes} (${compilerVersion}, ${seconds} s)\n`);
}

main();
