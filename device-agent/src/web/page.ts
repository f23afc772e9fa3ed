/**
 * The page: one HTML file with inline CSS and JS (page.html, no build step).
 * Loaded once at start, with its gzip, ETag and a Content-Security-Policy
 * that allows exactly its own inline script and style (by hash) and
 * connections back to the box, nothing else.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import { WebError } from './errors.ts';

const gzip = promisify(gzipCallback);

export const PAGE_FILE = new URL('./page.html', import.meta.url);

export interface LoadedPage {
  body: Buffer;
  gzipped: Buffer;
  etag: string;
  csp: string;
}

export async function loadPage(file: URL = PAGE_FILE): Promise<LoadedPage> {
  let html: string;
  try {
    html = await readFile(file, 'utf8');
  } catch (error) {
    throw new WebError('cannot read the web page', { code: 'invalid-config', details: file.pathname, cause: error });
  }
  const body = Buffer.from(html);
  return {
    body,
    gzipped: await gzip(body, { level: 9 }),
    etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
    csp: contentSecurityPolicy(html),
  };
}

export function contentSecurityPolicy(html: string): string {
  const hashes = (tag: 'script' | 'style') =>
    [...html.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))]
      .map((m) => `'sha256-${createHash('sha256').update(m[1] ?? '').digest('base64')}'`)
      .join(' ');
  return [
    "default-src 'none'",
    `script-src ${hashes('script')}`,
    `style-src ${hashes('style')}`,
    "connect-src 'self'",
    'img-src data:',
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}
