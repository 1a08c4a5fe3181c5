import { join } from 'node:path';

/** Where devlogin keeps its files. */
export interface Paths {
  /** config.json lives here. */
  configDir: string;
  /** sessions/, locks/ and audit.log live here. */
  stateDir: string;
}

/**
 * DEVLOGIN_HOME puts everything in one folder; otherwise the XDG base
 * directories (~/.config/devlogin and ~/.local/state/devlogin).
 */
export function resolvePaths(env: Readonly<Record<string, string | undefined>>, homeDir: string): Paths {
  if (env.DEVLOGIN_HOME) return { configDir: env.DEVLOGIN_HOME, stateDir: env.DEVLOGIN_HOME };
  const configHome = env.XDG_CONFIG_HOME || join(homeDir, '.config');
  const stateHome = env.XDG_STATE_HOME || join(homeDir, '.local', 'state');
  return { configDir: join(configHome, 'devlogin'), stateDir: join(stateHome, 'devlogin') };
}

export const configFile = (paths: Paths): string => join(paths.configDir, 'config.json');
export const sessionsDir = (paths: Paths): string => join(paths.stateDir, 'sessions');
export const locksDir = (paths: Paths): string => join(paths.stateDir, 'locks');
export const auditFile = (paths: Paths): string => join(paths.stateDir, 'audit.log');
