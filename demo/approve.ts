/**
 * Drives the local provider's own device pages over plain HTTP, as a person
 * in a browser would: enter the code, sign in (any name), consent. Used by the
 * tests and by `npm run demo -- --approve-as NAME`.
 */

export interface ApproveOptions {
  issuer: string;
  userCode: string;
  /** Account to sign in as (the dev login accepts any). */
  login?: string;
  /** A fetch that trusts the provider's certificate (tests with a private CA). */
  fetch?: typeof fetch;
}

class Browser {
  private readonly cookies = new Map<string, string>();

  constructor(private readonly fetcher: typeof fetch = fetch) {}

  async request(url: string, init: { method?: string; form?: Record<string, string> } = {}): Promise<{ url: string; status: number; body: string }> {
    let current = url;
    let method = init.method ?? 'GET';
    let body: string | undefined = init.form ? new URLSearchParams(init.form).toString() : undefined;
    for (let hops = 0; hops < 20; hops += 1) {
      const response = await this.fetcher(current, {
        method,
        redirect: 'manual',
        headers: {
          cookie: [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; '),
          ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
        },
        body,
      });
      for (const line of response.headers.getSetCookie()) {
        const [pair] = line.split(';');
        const index = pair!.indexOf('=');
        this.cookies.set(pair!.slice(0, index).trim(), pair!.slice(index + 1).trim());
      }
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location) {
        await response.arrayBuffer();
        current = new URL(location, current).href;
        method = 'GET';
        body = undefined;
        continue;
      }
      return { url: current, status: response.status, body: await response.text() };
    }
    throw new Error('too many redirects');
  }
}

function field(html: string, name: string): string {
  const match = new RegExp(`name="${name}" value="([^"]*)"`).exec(html);
  if (!match) throw new Error(`no ${name} field on the page`);
  return match[1]!;
}

async function submitCode(browser: Browser, { issuer, userCode }: ApproveOptions, decision: Record<string, string>): Promise<{ url: string; status: number; body: string }> {
  const form = await browser.request(`${issuer}/device`);
  return browser.request(`${issuer}/device`, {
    method: 'POST',
    form: { xsrf: field(form.body, 'xsrf'), user_code: userCode, ...decision },
  });
}

/** Approves a pending device code as `login` (default "alice"). */
export async function approveDeviceCode(options: ApproveOptions): Promise<void> {
  const browser = new Browser(options.fetch);
  let page = await submitCode(browser, options, { confirm: 'yes' });
  for (let steps = 0; steps < 6; steps += 1) {
    if (/Signed in|Sign-in Success/.test(page.body)) return;
    if (page.body.includes('name="prompt" value="login"')) {
      page = await browser.request(page.url, { method: 'POST', form: { prompt: 'login', login: options.login ?? 'alice', password: 'any' } });
    } else if (page.body.includes('name="prompt" value="consent"')) {
      page = await browser.request(page.url, { method: 'POST', form: { prompt: 'consent' } });
    } else {
      throw new Error(`unexpected page during approval (HTTP ${page.status}): ${page.body.slice(0, 300)}`);
    }
  }
  throw new Error('approval did not finish');
}

/** Denies a pending device code, as the "abort" button does. */
export async function denyDeviceCode(options: ApproveOptions): Promise<void> {
  const page = await submitCode(new Browser(options.fetch), options, { abort: 'yes' });
  if (page.status >= 500) throw new Error(`deny failed with HTTP ${page.status}`);
}
