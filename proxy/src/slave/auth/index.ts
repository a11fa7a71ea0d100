export type {
  AuthResult,
  ProxyAuthenticator,
  AuthOptions,
  UsersFileOptions,
  LdapOptions,
  LdapTlsOptions,
  AuthCacheOptions,
} from './types.js';
export { createAuthenticator } from './create-authenticator.js';
export type { AuthLogger, AuthDependencies } from './create-authenticator.js';
export { AUTH_FLAG_OPTIONS, AUTH_FLAGS_USAGE, authOptionsFromFlags, parseAuthFlags } from './auth-flags.js';
