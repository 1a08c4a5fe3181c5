import type { CustomFetch } from 'openid-client';

export interface HttpOptions {
  /** Aborts every request in flight (Ctrl-C). */
  signal?: AbortSignal;
  /** Receives one line per exchange for --verbose; never a header or body. */
  log?: (line: string) => void;
  /** Defaults to the global fetch. */
  fetch?: typeof fetch;
}

/**
 * The fetch every request to the provider goes through: it ties requests to
 * the process-wide abort signal and logs method, URL (without its query),
 * status and timing for --verbose.
 */
export function createHttpFetch(options: HttpOptions = {}): CustomFetch {
  const base = options.fetch ?? fetch;
  return async (url, init) => {
    const signal = combineSignals(init.signal, options.signal);
    const started = performance.now();
    const shown = describeUrl(url);
    try {
      const response = await base(url, { ...init, ...(signal ? { signal } : {}) });
      options.log?.(`${init.method} ${shown} → ${response.status} (${Math.round(performance.now() - started)} ms)`);
      return response;
    } catch (err) {
      options.log?.(`${init.method} ${shown} → failed: ${err instanceof Error ? err.name : 'error'} (${Math.round(performance.now() - started)} ms)`);
      throw err;
    }
  };
}

function combineSignals(a: AbortSignal | undefined, b: AbortSignal | undefined): AbortSignal | undefined {
  if (!a) return b;
  if (!b) return a;
  return AbortSignal.any([a, b]);
}

/** Origin and path only: a query string may carry a code or a token. */
export function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}${parsed.search ? '?[redacted]' : ''}`;
  } catch {
    return '[unparseable URL]';
  }
}
