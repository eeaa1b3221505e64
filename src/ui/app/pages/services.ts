/** `/ui/<dc>/services` and `/ui/<dc>/services/<name>`: catalog services, instances and checks. */
import { parseJson, useLive } from '../api.js';
import { html } from '../html.js';
import { ChecksTable, HealthSummary, LiveLine, Loading, PageTitle, Tags, ui, type HealthCheck } from './common.js';

export function ServicesPage({ dc }: { dc: string }) {
  const services = useLive('/v1/catalog/services', {}, parseJson<Record<string, string[] | null>>({}));
  const checks = useLive('/v1/health/state/any', {}, parseJson<HealthCheck[]>([]));
  const live = [services, checks];
  if (services.data === undefined || checks.data === undefined) return html`<${PageTitle}>Services<//><${Loading} live=${live} />`;
  const names = Object.keys(services.data).sort();
  return html`<${PageTitle} sub=${`${names.length} service${names.length === 1 ? '' : 's'} in ${dc}`}>Services<//>
    <${LiveLine} live=${live} />
    <div class="table-wrap"><table class="list" data-testid="services">
      <caption class="sr-only">Services</caption>
      <thead><tr><th scope="col">Service</th><th scope="col">Health checks</th><th scope="col">Tags</th></tr></thead>
      <tbody>${names.map((name) => {
        const own = checks.data!.filter((c) => c.ServiceName === name);
        return html`<tr key=${name} data-service=${name}>
          <td data-label="Service"><a href=${ui(dc, 'services', encodeURIComponent(name))}>${name}</a></td>
          <td data-label="Health checks"><${HealthSummary} checks=${own} /></td>
          <td data-label="Tags"><${Tags} tags=${services.data![name]} /></td>
        </tr>`;
      })}</tbody>
    </table></div>`;
}

interface HealthEntry {
  Node: { Node: string; Address: string; Datacenter: string };
  Service: { ID: string; Service: string; Tags: string[] | null; Address: string; Port: number; Meta: Record<string, string> | null };
  Checks: HealthCheck[];
}

export function ServicePage({ dc, name }: { dc: string; name: string }) {
  const entries = useLive(`/v1/health/service/${encodeURIComponent(name)}`, {}, parseJson<HealthEntry[]>([]));
  const title = html`<${PageTitle} sub=${html`<a href=${ui(dc, 'services')}>All services</a>`}>Service ${name}<//>`;
  if (entries.data === undefined) return html`${title}<${Loading} live=${entries} />`;
  const list = entries.data;
  return html`${title}<${LiveLine} live=${entries} />
    ${list.length === 0 ? html`<p class="muted">No instances of ${name} are registered.</p>` : null}
    ${list.map((e) => {
      const address = e.Service.Address || e.Node.Address;
      return html`<section class="card" key=${`${e.Node.Node}/${e.Service.ID}`} data-instance=${e.Service.ID} aria-labelledby=${`inst-${e.Service.ID}`}>
        <h2 id=${`inst-${e.Service.ID}`}>${e.Service.ID} <${HealthSummary} checks=${e.Checks} /></h2>
        <dl class="facts">
          <div><dt>Node</dt><dd><a href=${ui(dc, 'nodes', encodeURIComponent(e.Node.Node))}>${e.Node.Node}</a></dd></div>
          <div><dt>Address</dt><dd class="mono" data-testid="address">${address}:${e.Service.Port}</dd></div>
          <div><dt>Tags</dt><dd><${Tags} tags=${e.Service.Tags} /></dd></div>
          ${Object.keys(e.Service.Meta ?? {}).length > 0
            ? html`<div><dt>Meta</dt><dd class="mono">${Object.entries(e.Service.Meta ?? {}).map(([k, v]) => `${k}=${v}`).join(', ')}</dd></div>`
            : null}
        </dl>
        <${ChecksTable} checks=${e.Checks} caption=${`Checks of ${e.Service.ID}`} />
      </section>`;
    })}`;
}
