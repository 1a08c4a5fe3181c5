/**
 * Shell completions: generated from the command definitions (the committed
 * files must match), and loaded into real bash, zsh and fish.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, makeHome, runCli, type TestHome } from './helpers/cli.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const required = process.env.DEVLOGIN_REQUIRE_SYSTEM_TESTS === '1';
const have = (shell: string) => spawnSync('sh', ['-c', `command -v ${shell}`]).status === 0;

let h: TestHome;
let bin: string;
beforeAll(async () => {
  h = await makeHome();
  await writeFile(join(h.home, 'config.json'), JSON.stringify({ profiles: { work: { issuer: 'https://a.example' }, personal: {} } }));
  // The scripts call `devlogin` by name: put the built CLI on PATH.
  bin = await mkdtemp(join(tmpdir(), 'devlogin-bin-'));
  await writeFile(join(bin, 'devlogin'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`, { mode: 0o755 });
});
afterAll(async () => {
  await h.cleanup();
  await rm(bin, { recursive: true, force: true });
});
const shellEnv = () => ({ ...h.env, PATH: `${bin}:${process.env.PATH}`, HOME: h.home });

describe('devlogin completion', () => {
  it.each(['bash', 'zsh', 'fish'])('the committed completions/devlogin.%s is what the command prints', async (shell) => {
    const result = await runCli(['completion', shell], h.env);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(await readFile(join(root, 'completions', `devlogin.${shell}`), 'utf8'));
  });

  it('lists profile names from config.json for the scripts', async () => {
    expect((await runCli(['completion', '--profiles'], h.env)).stdout).toBe('personal\nwork\n');
  });

  it('refuses an unknown shell with exit 2', async () => {
    expect(await runCli(['completion', 'tcsh'], h.env)).toMatchObject({ code: 2, stderr: 'devlogin: Unknown shell "tcsh". Use: devlogin completion bash|zsh|fish\n' });
  });
});

describe.skipIf(!required && !have('bash'))('bash', () => {
  const complete = (words: string[]) => spawnSync('bash', ['--norc', '-c', `source completions/devlogin.bash; complete -p devlogin >/dev/null || exit 9; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _devlogin; printf '%s\\n' "\${COMPREPLY[@]}"`], { cwd: root, env: shellEnv(), encoding: 'utf8' });
  it('completes devlogin lo<TAB> to login logout', () => {
    const result = complete(['devlogin', 'lo']);
    expect(result.status).toBe(0);
    expect(result.stdout.trim().split('\n')).toEqual(['login', 'logout']);
  });
  it('completes flags of the command and profile names', () => {
    expect(complete(['devlogin', 'token', '--m']).stdout.trim()).toBe('--min-ttl');
    expect(complete(['devlogin', 'whoami', '--profile', 'w']).stdout.trim()).toBe('work');
  });
});

describe.skipIf(!required && !have('zsh'))('zsh', () => {
  it('completes devlogin lo<TAB><TAB> to login logout in an interactive zsh', async () => {
    const zdotdir = await mkdtemp(join(tmpdir(), 'devlogin-zsh-'));
    try {
      await writeFile(join(zdotdir, '.zshrc'), `autoload -U compinit; compinit -u -d ${zdotdir}/.zcompdump\nsource ${root}completions/devlogin.zsh\nPS1='> '\n`);
      // Each step waits for what the terminal shows (zpty -r with a pattern), not for
      // a fixed time: on a busy machine the shell may take seconds to start.
      const driver = `zmodload zsh/zpty
zpty -b z "ZDOTDIR=${zdotdir} zsh -i"
out=""
zpty -w -n z 'devlogin lo'; zpty -r z part '*devlogin lo*'; out+="$part"
zpty -w -n z $'\\t'; zpty -r z part '*g*'; out+="$part"
zpty -w -n z $'\\t'; zpty -r z part '*end the session here*'; out+="$part"
print -r -- "$out"; zpty -d z`;
      const result = spawnSync('zsh', ['-f', '-c', driver], { env: shellEnv(), encoding: 'utf8', timeout: 15_000 });
      const screen = result.stdout.replace(/\x1b\[[0-9;?]*[a-zA-Z]/g, '');
      expect(screen).toMatch(/login\s+-- sign in with the device flow/);
      expect(screen).toMatch(/logout\s+-- end the session here/);
    } finally {
      await rm(zdotdir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!required && !have('fish'))('fish', () => {
  const complete = (line: string) => spawnSync('fish', ['--no-config', '-c', `source completions/devlogin.fish; complete -C "${line}"`], { cwd: root, env: shellEnv(), encoding: 'utf8' });
  it('completes devlogin lo<TAB> to login logout', () => {
    const result = complete('devlogin lo');
    expect(result.stdout.trim().split('\n').map((line) => line.split('\t')[0])).toEqual(['login', 'logout']);
  });
  it('completes profile names', () => {
    expect(complete('devlogin whoami --profile ').stdout.trim().split('\n').map((line) => line.split('\t')[0])).toEqual(['personal', 'work']);
  });
});
