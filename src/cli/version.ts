/** Set by the bundler (scripts/bundle.mjs) from package.json, in every bundle. */
declare const DEVLOGIN_VERSION: string;

/** This build's version: --version, and what client and agent compare (they never mix versions). */
export const devloginVersion = (): string => DEVLOGIN_VERSION;
