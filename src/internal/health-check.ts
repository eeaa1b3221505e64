/**
 * The fields of Consul's structs.HealthCheck that say which check it is, whose it is and what it
 * last reported: what the client reads from the health endpoints (transport/health.ts) and what
 * the dev server's agent keeps for each local check (testing/dev-server/agent/checks.ts).
 */
export interface HealthCheckFields<Status extends string = string> {
  CheckID: string;
  Name: string;
  Status: Status;
  Notes: string;
  Output: string;
  ServiceID: string;
  ServiceName: string;
  ServiceTags: string[];
  Type: string;
}
