import { Chalk } from 'chalk';
import { formatDuration, parseDuration } from '../core/duration.js';
import { login, type LoginResult } from '../core/login.js';
import type { DeviceAuthorization, PollNotice } from '../core/oidc/device-flow.js';
import { toIso } from '../core/session/record.js';
import type { LoginFlags, LoginSettings } from '../core/settings.js';
import type { Deps } from '../deps.js';
import { isInteractive, terminalOf } from '../io.js';
import { writeJsonLine } from './output.js';
import { storedIn } from './vault-names.js';

export interface LoginCommandOptions {
  profile: string;
  flags: LoginFlags;
  browser: boolean;
  qr: boolean;
  json: boolean;
}

/** Commander's parsed flags → options; --max-session is parsed here, so its error names the flag. */
export function parseLoginOptions(profile: string, flags: Record<string, unknown>): LoginCommandOptions {
  const text = (key: string): string | undefined => (typeof flags[key] === 'string' ? (flags[key] as string) : undefined);
  const maxSession = text('maxSession');
  return {
    profile,
    flags: {
      issuer: text('issuer'),
      clientId: text('clientId'),
      scope: text('scope'),
      audience: text('audience'),
      maxSessionSeconds: maxSession === undefined ? undefined : parseDuration(maxSession, '--max-session'),
      provider: text('provider'),
      dpop: flags.dpop === true ? 'require' : flags.dpop === false ? 'off' : undefined,
    },
    browser: flags.browser !== false,
    qr: flags.qr !== false,
    json: flags.json === true,
  };
}

export async function runLogin(options: LoginCommandOptions, deps: Deps): Promise<void> {
  const view = createLoginView(deps, options);
  try {
    view.signedIn(await login(options.profile, options.flags, { ...deps, events: view }));
  } finally {
    view.stop();
  }
}

interface LoginView {
  onStart(settings: LoginSettings): void;
  onVerification(authorization: DeviceAuthorization): Promise<void>;
  onPollNotice(notice: PollNotice): void;
  onWarning(message: string): void;
  signedIn(result: LoginResult): void;
  stop(): void;
}

/** Everything `login` shows: people's text on stderr, NDJSON on stdout with --json. */
function createLoginView(deps: Deps, options: LoginCommandOptions): LoginView {
  const { io } = deps;
  const c = new Chalk({ level: io.color ? 1 : 0 });
  const say = (line = ''): void => void io.stderr.write(`${line}\n`);
  let countdown: Countdown | undefined;

  return {
    onStart(settings) {
      say(`Signing in to ${c.bold(settings.issuer)}`);
      say(c.dim(`  client ${settings.clientId} · scopes ${settings.scope}`));
    },

    async onVerification(authorization) {
      if (options.json) {
        writeJsonLine(io, {
          event: 'verification',
          user_code: authorization.userCode,
          verification_uri: authorization.verificationUri,
          verification_uri_complete: authorization.verificationUriComplete ?? null,
          expires_at: new Date(authorization.expiresAt).toISOString(),
          warning: authorization.warning ?? null,
        });
      }
      // RFC 8628 §3.3.1: show the user code even when a complete URI exists,
      // so that the user can compare it with the one the provider shows.
      const link = authorization.verificationUriComplete ?? authorization.verificationUri;
      say();
      if (authorization.warning) say(c.bold.red(`  !! ${authorization.warning}`));
      say(`  Your one-time code: ${c.bold.yellow(authorization.userCode)}`);
      say(`  Enter it at:        ${c.underline(authorization.verificationUri)}`);
      if (authorization.verificationUriComplete) say(`  or open directly:   ${c.underline(authorization.verificationUriComplete)}`);
      if (options.qr && io.stderrIsTTY) say((await deps.renderQr(link)).replace(/^/gm, '  '));
      say();
      say(c.yellow('  ! Enter this code only if you started this sign-in yourself. Nobody should ever ask you for it.'));
      say();
      if (options.browser && isInteractive(io)) {
        await deps.openBrowser(link).catch(() => say('  (Could not open a browser; open the link above yourself.)'));
      }
      countdown = startCountdown(deps, authorization.expiresAt);
    },

    onPollNotice(notice) {
      const line = notice.kind === 'slow_down'
        ? `The provider asked devlogin to slow down; polling every ${notice.intervalSeconds}s.`
        : `The provider did not answer (${notice.reason}); retrying in ${formatDuration(notice.waitSeconds)}.`;
      countdown?.note(c.dim(line));
    },

    onWarning(message) {
      (countdown ? countdown.note : say)(c.yellow(`warning: ${message}`));
    },

    signedIn({ record, backend, extraScopes, localEnd }) {
      countdown?.stop();
      countdown = undefined;
      if (extraScopes.length > 0) {
        say(c.yellow(`warning: the provider granted more than requested: ${extraScopes.join(' ')}`));
      }
      const who = record.claims.name ?? record.claims.preferred_username ?? record.subject;
      const email = record.claims.email ? ` <${record.claims.email}>` : '';
      const ends = record.sessionExpiresAt - record.createdAt;
      say(`${c.green('✓')} Signed in as ${c.bold(who)}${email}`);
      say(`  Session ends ${toIso(record.sessionExpiresAt)} (in ${formatDuration(ends)}); ${storedIn(backend)}.`);
      if (localEnd) say(c.yellow(`  ! ${localEnd}`));
      if (record.dpop) say(`  Tokens are bound to a key in the vault (DPoP, ${record.dpop.alg}): call APIs with "devlogin api URL".`);
      if (options.json) {
        writeJsonLine(io, {
          event: 'signed_in',
          profile: record.profile,
          issuer: record.issuer,
          subject: record.subject,
          name: record.claims.name ?? null,
          email: record.claims.email ?? null,
          scope: record.scope,
          access_token_expires_at: record.accessTokenExpiresAt === null ? null : toIso(record.accessTokenExpiresAt),
          session_expires_at: toIso(record.sessionExpiresAt),
          vault: backend,
          dpop_bound: record.dpop !== undefined,
        });
      }
    },

    stop() {
      countdown?.stop();
      countdown = undefined;
    },
  };
}

interface Countdown {
  /** Prints a line without breaking the spinner. */
  note(line: string): void;
  stop(): void;
}

/** An ora spinner counting down to the code's expiry on a TTY; one plain line otherwise. */
function startCountdown({ io, clock }: Deps, expiresAt: number): Countdown {
  const remaining = (): string => formatDuration((expiresAt - clock.now()) / 1000);
  const stream = terminalOf(io);
  if (!stream) {
    io.stderr.write(`Waiting for approval (the code expires in ${remaining()})…\n`);
    return { note: (line) => void io.stderr.write(`${line}\n`), stop: () => undefined };
  }
  let spinner: import('ora').Ora | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  void import('ora').then(({ default: ora }) => {
    if (stopped) return;
    // One frame a second: the wait between polls should cost next to no CPU.
    spinner = ora({ stream: stream as unknown as NodeJS.WritableStream, discardStdin: false, isEnabled: true, spinner: { interval: 1000, frames: ['◐', '◓', '◑', '◒'] }, color: io.color ? 'cyan' : false });
    spinner.start(`Waiting for approval… the code expires in ${remaining()}`);
    timer = setInterval(() => {
      if (spinner) spinner.text = `Waiting for approval… the code expires in ${remaining()}`;
    }, 1000);
    timer.unref();
  });
  return {
    note(line) {
      if (spinner) {
        spinner.clear();
        stream.write(`${line}\n`);
        spinner.render();
      } else {
        stream.write(`${line}\n`);
      }
    },
    stop() {
      stopped = true;
      clearInterval(timer);
      spinner?.stop();
    },
  };
}
