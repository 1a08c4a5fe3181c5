import { profileFlag } from '../config.js';

/** What to do about a session that cannot be opened. */
export const corruptHint = (profile: string): string =>
  `Run "devlogin logout --local${profileFlag(profile)}" to drop it, then sign in again.`;
