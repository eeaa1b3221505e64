/**
 * What to do when Consul refuses a session's TTL. Consul answers a TTL outside
 * [session_ttl_min, 24h] with only `Invalid Session TTL '5000000000', must be between
 * [10s=24h0m0s]` (agent/session_endpoint.go); the fix is on either side, so the error says both.
 */
import { ConsulError } from '../errors.js';
import { formatDurationMs } from '../internal/duration.js';

const INVALID_TTL = /Invalid Session TTL '\d+', must be between \[([^=\]]+)=([^\]]+)\]/;

/**
 * `err` with a message that adds what to do, when it is Consul refusing `ttlMs`; otherwise
 * `err` unchanged. The error keeps its class, code, status and Consul's own reply
 * (`consulMessage`).
 */
export function explainTtlRefusal(err: unknown, ttlMs: number): unknown {
  if (!(err instanceof ConsulError)) return err;
  const range = INVALID_TTL.exec(err.consulMessage);
  if (!range) return err;
  const [, min, max] = range;
  const ttl = formatDurationMs(ttlMs);
  const fix =
    `the session ttl ${ttl} is outside this Consul's range ${min} to ${max}: use a ttl of at least ` +
    `${min}, or lower the server's minimum (Consul's agent setting session_ttl_min; on the dev ` +
    'server, startDevServer({ sessionTtlMin }) or consul-recipes dev --session-ttl-min)';
  const explained = new ConsulError(err.statusCode, err.endpoint, err.consulMessage, { cause: err });
  explained.message = `${err.message}; ${fix}`;
  return explained;
}
