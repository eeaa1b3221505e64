/** `/ui/<dc>/nodes` and `/ui/<dc>/nodes/<node>`: catalog nodes, their services and checks. */
import { parseJson, useLive } from '../api.js';
import { html } from '../html.js';
import { ChecksTable, HealthSummary, LiveLine, Loading, PageTitle, Tags, ui, type HealthCheck } from './common.js';
import { nsDuration } from '../format.js';

interface CatalogNode {
  Node: string;
  Address: string;
  Datacenter: string;
  Meta?: Record<string, string> | null;
}

export function NodesPage({ dc }: { dc: string }) {
  const nodes = useLive('/v1/catalog/nodes', {}, parseJson<CatalogNode[]>([]));
  const checks = useLive('/v1/health/state/any', {}, parseJson<HealthCheck[]>([]));
  const live = [nodes, checks];
  if (nodes.data === undefined || checks.data === undefined) return html`<${PageTitle}>Nodes<//><${Loading} live=${live} />`;
  return html`<${PageTitle} sub=${`${nodes.data.length} node${nodes.data.length === 1 ? '' : 's'} in ${dc}`}>Nodes<//>
    <${LiveLine} live=${live} />
    <div class="table-wrap"><table class="list" data-testid="nodes">
      <caption class="sr-only">Nodes</caption>
      <thead><tr><th scope="col">Node</th><th scope="col">Address</th><th scope="col">Node health</th><th scope="col">All checks</th></tr></thead>
      <tbody>${nodes.data.map((n) => {
        const own = checks.data!.filter((c) => c.Node === n.Node);
        return html`<tr key=${n.Node} data-node=${n.Node}>
          <td data-label="Node"><a href=${ui(dc, 'nodes', encodeURIComponent(n.Node))}>${n.Node}</a></td>
          <td data-label="Address" class="mono">${n.Address}</td>
          <td data-label="Node health"><${HealthSummary} checks=${own.filter((c) => !c.ServiceID)} /></td>
          <td data-label="All checks"><${HealthSummary} checks=${own} /></td>
        </tr>`;
      })}</tbody>
    </table></div>`;
}

interface NodeServices {
  Node: CatalogNode;
  Services: Record<string, { ID: string; Service: string; Tags: string[] | null; Address: string; Port: number }>;
}

interface SessionRow {
  ID: string;
  Name: string;
  TTL: string;
  LockDelay: number;
  Behavior: string;
}

export function NodePage({ dc, node }: { dc: string; node: string }) {
  const info = useLive(`/v1/catalog/node/${encodeURIComponent(node)}`, {}, parseJson<NodeServices | null>(null));
  const checks = useLive(`/v1/health/node/${encodeURIComponent(node)}`, {}, parseJson<HealthCheck[]>([]));
  const sessions = useLive(`/v1/session/node/${encodeURIComponent(node)}`, {}, parseJson<SessionRow[]>([]));
  const live = [info, checks, sessions];
  const title = html`<${PageTitle} sub=${html`<a href=${ui(dc, 'nodes')}>All nodes</a>`}>Node ${node}<//>`;
  if (info.data === undefined || checks.data === undefined || sessions.data === undefined) return html`${title}<${Loading} live=${live} />`;
  if (info.data === null) return html`${title}<${LiveLine} live=${live} /><p>No node named ${node} is registered.</p>`;
  const services = Object.values(info.data.Services ?? {}).sort((a, b) => (a.ID < b.ID ? -1 : 1));
  return html`${title}<${LiveLine} live=${live} />
    <dl class="facts">
      <div><dt>Address</dt><dd class="mono">${info.data.Node.Address}</dd></div>
      <div><dt>Datacenter</dt><dd>${info.data.Node.Datacenter}</dd></div>
      <div><dt>Health</dt><dd><${HealthSummary} checks=${checks.data} /></dd></div>
    </dl>
    <${ChecksTable} checks=${checks.data.filter((c) => !c.ServiceID)} caption="Node checks" />
    <h2>Services</h2>
    <div class="table-wrap"><table class="list" data-testid="node-services">
      <caption class="sr-only">Services on ${node}</caption>
      <thead><tr><th scope="col">ID</th><th scope="col">Service</th><th scope="col">Address</th><th scope="col">Tags</th><th scope="col">Checks</th></tr></thead>
      <tbody>${services.map(
        (s) => html`<tr key=${s.ID}>
          <td data-label="ID">${s.ID}</td>
          <td data-label="Service"><a href=${ui(dc, 'services', encodeURIComponent(s.Service))}>${s.Service}</a></td>
          <td data-label="Address" class="mono">${s.Address || info.data!.Node.Address}:${s.Port}</td>
          <td data-label="Tags"><${Tags} tags=${s.Tags} /></td>
          <td data-label="Checks"><${HealthSummary} checks=${checks.data!.filter((c) => c.ServiceID === s.ID)} /></td>
        </tr>`,
      )}</tbody>
    </table></div>
    <h2>Sessions</h2>
    ${sessions.data.length === 0
      ? html`<p class="muted">No sessions on this node.</p>`
      : html`<ul>${sessions.data.map(
          (s) => html`<li key=${s.ID}><a href=${`${ui(dc, 'sessions')}#${s.ID}`}>${s.Name || s.ID}</a> <span class="muted mono">${s.ID.slice(0, 8)} · ${s.Behavior} · TTL ${s.TTL || 'none'} · lock-delay ${nsDuration(s.LockDelay)}</span></li>`,
        )}</ul>`}`;
}
