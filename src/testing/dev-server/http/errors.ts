/**
 * Errors the HTTP layer maps to responses, as agent/http.go `wrap` / `handleErr` does:
 * HTTPError → its status and text; ACL errors → 403; method errors → 405 + Allow;
 * everything else (including every state-store error) → 500 with the error text.
 */

/** agent/http.go HTTPError: a handler-chosen status with a plain-text reason. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** Close the connection after answering (used when an oversized body was not drained). */
    readonly closeConnection = false,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** agent/http.go MethodNotAllowedError. */
export class MethodNotAllowedError extends Error {
  constructor(
    readonly method: string,
    readonly allow: readonly string[],
  ) {
    super(`method ${method} not allowed`);
    this.name = 'MethodNotAllowedError';
  }
}

/** acl.ErrNotFound / acl.PermissionDeniedError, answered with 403 and the text. */
export class AclError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AclError';
  }
}

/** An RPC-level failure (no leader, no path to datacenter, …): 500 with the text. */
export class RpcError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RpcError';
  }
}

/** structs.ErrNoLeader. */
export const NO_LEADER = 'No cluster leader';

/** Thrown into a held request when its client went away or the server is closing. */
export class RequestAborted extends Error {
  constructor() {
    super('request aborted');
    this.name = 'RequestAborted';
  }
}
