/** Pieces every page uses: status badges, the live/error line, check tables, links. */
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, type Live } from '../api.js';
import { html } from '../html.js';

export type Status = 'passing' | 'warning' | 'critical' | 'maintenance' | string;

export interface HealthCheck {
  Node: string;
  CheckID: string;
  Name: string;
  Status: Status;
  Notes?: string;
  Output: string;
  ServiceID: string;
  ServiceName: string;
  ServiceTags?: string[] | null;
  Type?: string;
}

const SYMBOL: Record<string, string> = { passing: '✓', warning: '!', critical: '✕' };

/** Status as a word with a symbol: never colour alone. */
export function Badge({ status }: { status: Status }) {
  return html`<span class=${`badge badge-${status}`}><span aria-hidden="true">${SYMBOL[status] ?? '•'}</span> ${status}</span>`;
}

/** Counts of passing / warning / critical among `checks`, as badges. */
export function HealthSummary({ checks }: { checks: readonly HealthCheck[] }) {
  if (checks.length === 0) return html`<span class="muted">no checks</span>`;
  const counts = new Map<string, number>();
  for (const c of checks) counts.set(c.Status, (counts.get(c.Status) ?? 0) + 1);
  return html`<span class="summary">${['critical', 'warning', 'passing']
    .filter((s) => counts.has(s))
    .map((s) => html`<span class=${`badge badge-${s}`} title=${`${counts.get(s)} ${s}`}><span aria-hidden="true">${SYMBOL[s]}</span> ${counts.get(s)} ${s}</span> `)}</span>`;
}

export function ChecksTable({ checks, caption }: { checks: readonly HealthCheck[]; caption: string }) {
  if (checks.length === 0) return html`<p class="muted">${caption}: none.</p>`;
  return html`<div class="table-wrap"><table class="checks">
    <caption>${caption}</caption>
    <thead><tr><th scope="col">Check</th><th scope="col">Status</th><th scope="col">Output</th></tr></thead>
    <tbody>${checks.map(
      (c) => html`<tr key=${c.CheckID} data-check=${c.CheckID}>
        <td><strong>${c.Name}</strong><div class="muted small">${c.CheckID}${c.Type ? ` · ${c.Type}` : ''}${c.ServiceID ? '' : ' · node check'}</div></td>
        <td><${Badge} status=${c.Status} /></td>
        <td><pre class="output">${c.Output || '—'}</pre></td>
      </tr>`,
    )}</tbody>
  </table></div>`;
}

/** "Live" and the index shown, or the error of the last attempt (retried every second). */
export function LiveLine({ live }: { live: Live<unknown> | readonly Live<unknown>[] }) {
  const all = Array.isArray(live) ? live : [live as Live<unknown>];
  const error = all.find((l) => l.error !== undefined)?.error;
  if (error !== undefined) {
    const acl = error instanceof ApiError && error.isAcl;
    return html`<p class="error" role="alert">${acl ? 'Access denied by ACLs: enter a token with the "ACL token" button. ' : ''}${error.message}${acl ? '' : ' (retrying)'}</p>`;
  }
  const index = Math.max(...all.map((l) => l.index));
  return html`<p class="live" aria-live="off"><span class="dot" aria-hidden="true"></span> Live · index <span data-testid="index">${index}</span></p>`;
}

export function Loading({ live }: { live: Live<unknown> | readonly Live<unknown>[] }) {
  const all = Array.isArray(live) ? live : [live as Live<unknown>];
  return all.some((l) => l.error) ? html`<${LiveLine} live=${live} />` : html`<p class="muted" role="status">Loading…</p>`;
}

export function PageTitle({ children, sub }: { children: ComponentChildren; sub?: ComponentChildren }) {
  return html`<header class="page-head"><h1 tabindex="-1" id="page-title">${children}</h1>${sub ? html`<p class="muted">${sub}</p>` : null}</header>`;
}

/** The current time, re-read every `ms` (for "held for" columns). */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}

export function Tags({ tags }: { tags: readonly string[] | null | undefined }) {
  if (!tags || tags.length === 0) return html`<span class="muted">—</span>`;
  return html`<ul class="tags" aria-label="tags">${tags.map((t) => html`<li class="tag">${t}</li>`)}</ul>`;
}

export function ui(dc: string, ...parts: string[]): string {
  return `/ui/${encodeURIComponent(dc)}/${parts.join('/')}`;
}
