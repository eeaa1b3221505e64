/** Agent endpoints: self, checks, and status. Service endpoints join these with discovery. */
import type { ConsulTransport, RetryMode } from './client.js';

export interface AgentSelf {
  Config: { Datacenter: string; NodeName: string; NodeID?: string; Version?: string; Server?: boolean };
  Member?: { Name: string; Addr: string };
}

export interface CheckRegistration {
  ID?: string;
  Name: string;
  Notes?: string;
  ServiceID?: string;
  TTL?: string;
  HTTP?: string;
  TCP?: string;
  Interval?: string;
  Timeout?: string;
  Status?: 'passing' | 'warning' | 'critical';
  DeregisterCriticalServiceAfter?: string;
}

export type CheckStatus = 'passing' | 'warning' | 'critical';

export class Agent {
  constructor(private readonly t: ConsulTransport) {}

  async self(signal?: AbortSignal): Promise<AgentSelf> {
    const res = await this.t.request({ method: 'GET', path: '/v1/agent/self', signal, retry: 'transient' });
    return JSON.parse(res.body.toString('utf8')) as AgentSelf;
  }

  /** Registers (or replaces) a check; re-registering the same definition is harmless. */
  async registerCheck(check: CheckRegistration, signal?: AbortSignal): Promise<void> {
    await this.t.request({ method: 'PUT', path: '/v1/agent/check/register', body: check, signal, retry: 'transient' });
  }

  async deregisterCheck(id: string, signal?: AbortSignal): Promise<void> {
    await this.t.request({
      method: 'PUT',
      path: `/v1/agent/check/deregister/${encodeURIComponent(id)}`,
      signal,
      retry: 'transient',
      // Already gone is the outcome we wanted.
      okStatuses: [404],
    });
  }

  /**
   * Sets a TTL check's status (and resets its TTL timer). A heartbeat loop with retries of its
   * own passes `retry: 'none'`, so the two never stack.
   */
  async updateTtlCheck(id: string, status: CheckStatus, output?: string, signal?: AbortSignal, retry: RetryMode = 'transient'): Promise<void> {
    await this.t.request({
      method: 'PUT',
      path: `/v1/agent/check/update/${encodeURIComponent(id)}`,
      body: { Status: status, Output: output ?? '' },
      signal,
      retry,
    });
  }

  /** The leader's address, or '' when the cluster has none. */
  async leader(signal?: AbortSignal): Promise<string> {
    const res = await this.t.request({ method: 'GET', path: '/v1/status/leader', signal, retry: 'transient' });
    return JSON.parse(res.body.toString('utf8')) as string;
  }
}
