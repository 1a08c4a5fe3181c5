/**
 * Session keys held in memory by the agent (`devlogin agent`), so that
 * whoami and token skip the keychain read. A key is only ever handed back
 * for the session it was read for (profile and session id), never past that
 * session's end; forgetting one overwrites it.
 */
export interface KeyCache {
  /** The key for this session, if held and the session has not ended. */
  get(profile: string, sessionId: string, nowSeconds: number): Buffer | undefined;
  set(profile: string, sessionId: string, key: Buffer, sessionExpiresAt: number): void;
  forget(profile: string): void;
  forgetAll(): void;
  /** What is held, without the keys. */
  entries(): Array<{ profile: string; sessionId: string; sessionExpiresAt: number }>;
}

interface Held {
  sessionId: string;
  key: Buffer;
  sessionExpiresAt: number;
}

export function createKeyCache(): KeyCache {
  const held = new Map<string, Held>();
  const forget = (profile: string): void => {
    held.get(profile)?.key.fill(0);
    held.delete(profile);
  };
  return {
    get(profile, sessionId, nowSeconds) {
      const entry = held.get(profile);
      if (!entry) return undefined;
      if (entry.sessionId !== sessionId || nowSeconds >= entry.sessionExpiresAt) {
        forget(profile);
        return undefined;
      }
      // A copy: forgetting overwrites the held key, and a caller may still be using its own.
      return Buffer.from(entry.key);
    },
    set(profile, sessionId, key, sessionExpiresAt) {
      forget(profile);
      held.set(profile, { sessionId, key: Buffer.from(key), sessionExpiresAt });
    },
    forget,
    forgetAll() {
      for (const profile of [...held.keys()]) forget(profile);
    },
    entries() {
      return [...held].map(([profile, { sessionId, sessionExpiresAt }]) => ({ profile, sessionId, sessionExpiresAt }));
    },
  };
}
