import { readFile } from 'node:fs/promises';

/**
 * Reads prompts from JSONL: each non-empty line is a JSON string or an
 * object with a string `prompt`. Errors name the line.
 */
export async function readPromptsJsonl(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new Error(`cannot read ${path}: ${(cause as NodeJS.ErrnoException).code ?? cause}`);
  }
  const prompts: string[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new Error(`${path}:${i + 1}: not JSON; each line must be "a prompt" or {"prompt": "…"}`);
    }
    if (typeof value === 'string') prompts.push(value);
    else if (value && typeof value === 'object' && typeof (value as { prompt?: unknown }).prompt === 'string') {
      prompts.push((value as { prompt: string }).prompt);
    } else throw new Error(`${path}:${i + 1}: expected "a prompt" or {"prompt": "…"}`);
  });
  if (prompts.length === 0) throw new Error(`${path} has no prompts`);
  return prompts;
}
