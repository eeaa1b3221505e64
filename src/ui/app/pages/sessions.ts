/** `/ui/<dc>/sessions`: every session with its node, TTL, checks, behavior, lock-delay and holdings. */
import { SEMAPHORE_FLAG_VALUE } from '../../../recipes/hold/keys.js';
import { keyPath, type KVPair } from '../api.js';
import { flagsMeaning, nsDuration } from '../format.js';
import { html } from '../html.js';
import { LiveLine, Loading, PageTitle, ui } from './common.js';
import { useKvAndSessions } from './coordination.js';

function what(pair: KVPair): string {
  if (pair.flags === SEMAPHORE_FLAG_VALUE) return 'semaphore contender';
  const meaning = flagsMeaning(pair.flags);
  if (meaning) return meaning.split(' ')[0] ?? meaning;
  return pair.flags === 0n ? 'leader key (election)' : `flags ${pair.flags}`;
}

export function SessionsPage({ dc }: { dc: string }) {
  const { kv, sessions } = useKvAndSessions();
  const live = [kv, sessions];
  const title = html`<${PageTitle}>Sessions<//>`;
  if (kv.data === undefined || sessions.data === undefined) return html`${title}<${Loading} live=${live} />`;
  const held = new Map<string, KVPair[]>();
  for (const p of kv.data) if (p.session !== undefined) held.set(p.session, [...(held.get(p.session) ?? []), p]);
  const list = [...sessions.data].sort((a, b) => a.CreateIndex - b.CreateIndex);
  return html`${title}<${LiveLine} live=${live} />
    ${list.length === 0 ? html`<p class="muted">No sessions.</p>` : null}
    <div class="table-wrap"><table class="list" data-testid="sessions">
      <caption class="sr-only">Sessions</caption>
      <thead><tr>
        <th scope="col">Name</th><th scope="col">Node</th><th scope="col">TTL</th><th scope="col">Behavior</th>
        <th scope="col">Lock-delay</th><th scope="col">Checks</th><th scope="col">Holds</th>
      </tr></thead>
      <tbody>${list.map((s) => {
        const checks = [...(s.NodeChecks ?? []), ...(s.ServiceChecks ?? []).map((c) => c.ID), ...(s.Checks ?? [])];
        const keys = held.get(s.ID) ?? [];
        return html`<tr key=${s.ID} id=${s.ID} data-session=${s.ID}>
          <td data-label="Name"><strong>${s.Name || '(unnamed)'}</strong><div class="mono small muted" title=${s.ID}>${s.ID}</div></td>
          <td data-label="Node"><a href=${ui(dc, 'nodes', encodeURIComponent(s.Node))}>${s.Node}</a></td>
          <td data-label="TTL">${s.TTL || 'none'}</td>
          <td data-label="Behavior">${s.Behavior}</td>
          <td data-label="Lock-delay">${nsDuration(s.LockDelay)}</td>
          <td data-label="Checks">${checks.length === 0 ? html`<span class="muted">none</span>` : html`<ul class="plain">${[...new Set(checks)].map((c) => html`<li class="mono">${c}</li>`)}</ul>`}</td>
          <td data-label="Holds">${keys.length === 0
            ? html`<span class="muted">nothing</span>`
            : html`<ul class="plain">${keys.map((p) => html`<li><a class="mono" href=${ui(dc, 'kv', keyPath(p.key))}>${p.key}</a> <span class="muted small">${what(p)}</span></li>`)}</ul>`}</td>
        </tr>`;
      })}</tbody>
    </table></div>`;
}
