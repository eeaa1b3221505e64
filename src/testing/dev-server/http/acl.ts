/**
 * ACL resolution for the dev server's one-token ACL mode: the configured token is the
 * management token (everything allowed), no token is the anonymous token under default policy
 * deny, and any other token does not exist. Texts follow acl/errors.go.
 */
import { timingSafeEqual } from 'node:crypto';
import { AclError } from './errors.js';

export type Access = 'read' | 'write' | 'list';

export interface Authorizer {
  /** False when ACLs are off: everything is allowed and nothing is filtered. */
  readonly enforcing: boolean;
  allowed(resource: string, access: Access, name: string): boolean;
  /** Throws the 403 permission-denied error when not allowed. */
  require(resource: string, access: Access, name: string): void;
}

const ALLOW_ALL: Authorizer = {
  enforcing: false,
  allowed: () => true,
  require: () => undefined,
};

const MANAGEMENT: Authorizer = { ...ALLOW_ALL, enforcing: true };

/** acl.PermissionDeniedError for the anonymous token. */
export function anonymousDenied(resource: string, access: Access, name: string): AclError {
  const on = name === '' ? '' : ` on ${JSON.stringify(name)}`;
  return new AclError(
    `Permission denied: anonymous token lacks permission '${resource}:${access}'${on}. ` +
      'The anonymous token is used implicitly when a request does not specify a token.',
  );
}

const ANONYMOUS: Authorizer = {
  enforcing: true,
  allowed: () => false,
  require: (resource, access, name) => {
    throw anonymousDenied(resource, access, name);
  },
};

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** ResolveToken: throws `ACL not found` (403) for an unknown secret. */
export function resolveAuthorizer(managementToken: string | undefined, token: string): Authorizer {
  if (managementToken === undefined) return ALLOW_ALL;
  if (token === '') return ANONYMOUS;
  if (sameSecret(token, managementToken)) return MANAGEMENT;
  throw new AclError('ACL not found');
}
