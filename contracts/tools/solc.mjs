#!/usr/bin/env node
// Makes solc-js (the `solc` npm package) answer like the native `solc` binary, so that
// forge can build offline: foundry.toml names this file as its compiler.
//
// forge calls it two ways:
//   solc --version
//   solc --allow-paths <a,b> --base-path <dir> [--include-path <dir>]... --standard-json   (input on stdin)
// Sources arrive inline in the standard JSON; the import callback below is only a fallback that
// reads files under the base, include and allowed paths.
import { readFileSync, realpathSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import solc from 'solc';

function fail(message) {
  process.stderr.write(`solc (solc-js shim): ${message}\n`);
  process.exitCode = 2;
}

function parseArgs(argv) {
  const options = { version: false, standardJson: false, basePath: process.cwd(), includePaths: [], allowPaths: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inlineValue] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = () => inlineValue ?? argv[++i];
    switch (flag) {
      case '--version':
        options.version = true;
        break;
      case '--standard-json':
        options.standardJson = true;
        break;
      case '--base-path':
        options.basePath = resolve(value());
        break;
      case '--include-path':
        options.includePaths.push(resolve(value()));
        break;
      case '--allow-paths':
        options.allowPaths.push(...value().split(',').filter(Boolean).map((p) => resolve(p)));
        break;
      default:
        throw new Error(`unsupported argument ${JSON.stringify(arg)} (this shim supports --version and --standard-json)`);
    }
  }
  return options;
}

function isInside(dir, file) {
  const rel = relative(dir, file);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** The canonical path (symlinks resolved, as forge passes them in --allow-paths), or null if it does not exist. */
function canonical(path) {
  try {
    return realpathSync(path);
  } catch {
    return null;
  }
}

function importCallback(options) {
  const roots = [options.basePath, ...options.includePaths];
  const allowed = [...roots, ...options.allowPaths].map((dir) => canonical(dir) ?? dir);
  return (path) => {
    const candidates = isAbsolute(path) ? [path] : roots.map((root) => resolve(root, path));
    for (const candidate of candidates) {
      const file = canonical(candidate);
      if (file === null || !allowed.some((dir) => isInside(dir, file))) continue;
      try {
        return { contents: readFileSync(file, 'utf8') };
      } catch {
        // try the next root
      }
    }
    return { error: `File not found inside the base, include or allowed paths: ${path}` };
  };
}

function main() {
  let options;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (error) {
    fail(error.message);
    return;
  }
  if (options.version) {
    process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
    return;
  }
  if (!options.standardJson) {
    fail('only --standard-json compilation is supported');
    return;
  }
  const input = readFileSync(0, 'utf8');
  const output = solc.compile(input, { import: importCallback(options) });
  process.stdout.write(output);
}

main();
