/**
 * The UI's entry point: a small router over Consul's URL layout (`/ui/<dc>/services`, …), the
 * page frame (navigation, datacenter, ACL token box) and in-page navigation without reloads.
 */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, getJson, getToken, setDatacenter, setToken, useTokenVersion } from './api.js';
import { html } from './html.js';
import { PageTitle, ui } from './pages/common.js';
import { CoordinationPage } from './pages/coordination.js';
import { KvPage } from './pages/kv.js';
import { NodePage, NodesPage } from './pages/nodes.js';
import { ServicePage, ServicesPage } from './pages/services.js';
import { SessionsPage } from './pages/sessions.js';

const SECTIONS = [
  ['services', 'Services'],
  ['nodes', 'Nodes'],
  ['kv', 'Key / Value'],
  ['sessions', 'Sessions'],
  ['coordination', 'Coordination'],
] as const;

interface Route {
  readonly dc: string;
  readonly section: string;
  /** The rest of the path, decoded ('' when none). */
  readonly rest: string;
}

function parseRoute(pathname: string): Route | undefined {
  const m = /^\/ui\/([^/]+)\/([^/]+)(?:\/(.*))?$/.exec(pathname);
  if (!m) return undefined;
  const decode = (s: string): string => s.split('/').map(decodeURIComponent).join('/');
  return { dc: decodeURIComponent(m[1] ?? ''), section: m[2] ?? '', rest: decode(m[3] ?? '') };
}

function usePath(): string {
  const [path, setPath] = useState(window.location.pathname);
  useEffect(() => {
    const update = (): void => {
      setPath(window.location.pathname);
      // Move focus to the new page's heading so keyboard and screen-reader users land there.
      requestAnimationFrame(() => document.getElementById('page-title')?.focus({ preventScroll: true }));
    };
    window.addEventListener('popstate', update);
    return () => window.removeEventListener('popstate', update);
  }, []);
  return path;
}

function navigate(href: string, replace = false): void {
  if (replace) window.history.replaceState(null, '', href);
  else window.history.pushState(null, '', href);
  window.dispatchEvent(new PopStateEvent('popstate'));
}

// Links inside the app change the page without a reload.
document.addEventListener('click', (event) => {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const link = (event.target as Element | null)?.closest?.('a');
  if (!link || link.target || link.origin !== window.location.origin || !link.pathname.startsWith('/ui/')) return;
  event.preventDefault();
  if (link.pathname === window.location.pathname && link.hash) {
    window.history.pushState(null, '', link.href);
    document.getElementById(decodeURIComponent(link.hash.slice(1)))?.scrollIntoView();
    return;
  }
  navigate(link.pathname + link.search + link.hash);
});

function TokenBox() {
  const version = useTokenVersion();
  const [open, setOpen] = useState(false);
  const [draft, setDraft] = useState('');
  const has = getToken() !== '';
  void version;
  const save = (event: Event): void => {
    event.preventDefault();
    setToken(draft.trim());
    setDraft('');
    setOpen(false);
  };
  return html`<div class="token">
    <button type="button" aria-expanded=${open} aria-controls="token-form" onClick=${() => setOpen(!open)}>ACL token${has ? ' ✓' : ''}</button>
    ${open
      ? html`<form id="token-form" class="token-form" onSubmit=${save}>
          <label for="token-input">ACL token <span class="muted small">(kept in this tab's session storage, sent only as a header)</span></label>
          <input id="token-input" type="password" autocomplete="off" value=${draft} onInput=${(e: Event) => setDraft((e.target as HTMLInputElement).value)} />
          <div class="actions">
            <button type="submit" class="primary">Use token</button>
            ${has ? html`<button type="button" onClick=${() => { setToken(''); setOpen(false); }}>Forget token</button>` : null}
          </div>
        </form>`
      : null}
  </div>`;
}

/**
 * With ACLs in default-deny, lists are filtered rather than refused, so a page without a token
 * looks empty: ask the agent once (and after every token change) whether it knows us.
 */
function AclBanner() {
  const version = useTokenVersion();
  const [denied, setDenied] = useState<string | undefined>(undefined);
  useEffect(() => {
    let live = true;
    getJson('/v1/agent/self').then(
      () => live && setDenied(undefined),
      (err: Error) => live && setDenied(err instanceof ApiError && err.isAcl ? err.message : undefined),
    );
    return () => {
      live = false;
    };
  }, [version]);
  if (denied === undefined) return null;
  return html`<p class="error banner" role="alert" data-testid="acl-banner">Access denied by ACLs (${denied}): lists may look empty. Enter a token with the "ACL token" button.</p>`;
}

function Frame({ route, children }: { route: Route | undefined; children: unknown }) {
  return html`<a class="skip" href="#main">Skip to content</a>
    <header class="top">
      <a class="brand" href=${route ? ui(route.dc, 'services') : '/ui/'}>consul-recipes</a>
      ${route ? html`<span class="dc" title="datacenter">${route.dc}</span>` : null}
      <nav aria-label="Sections"><ul>${SECTIONS.map(
        ([id, label]) => html`<li><a href=${!route ? '/ui/' : id === 'kv' ? ui(route.dc, 'kv', '') : ui(route.dc, id)} aria-current=${route?.section === id ? 'page' : undefined}>${label}</a></li>`,
      )}</ul></nav>
      <${TokenBox} />
    </header>
    <main id="main"><${AclBanner} />${children}</main>`;
}

function Home() {
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const version = useTokenVersion();
  useEffect(() => {
    getJson<{ Config: { Datacenter: string } }>('/v1/agent/self')
      .then((self) => navigate(ui(self.Config.Datacenter, 'services'), true))
      .catch((err: Error) => setProblem(err.message));
  }, [version]);
  return html`<${PageTitle}>Consul<//>${problem ? html`<p class="error" role="alert">Cannot reach the agent: ${problem}</p>` : html`<p role="status">Connecting…</p>`}`;
}

function App() {
  const path = usePath();
  const route = parseRoute(path);
  if (route) setDatacenter(route.dc);
  useEffect(() => {
    const label = route ? (SECTIONS.find(([id]) => id === route.section)?.[1] ?? 'Not found') : 'Consul';
    document.title = `${route?.rest ? `${route.rest} · ` : ''}${label} · consul-recipes`;
  }, [path]);
  let page;
  if (!route) page = path === '/ui/' || path === '/ui' ? html`<${Home} />` : html`<${PageTitle}>Not found<//><p><a href="/ui/">Start page</a></p>`;
  else if (route.section === 'services') page = route.rest ? html`<${ServicePage} dc=${route.dc} name=${route.rest} key=${route.rest} />` : html`<${ServicesPage} dc=${route.dc} />`;
  else if (route.section === 'nodes') page = route.rest ? html`<${NodePage} dc=${route.dc} node=${route.rest} key=${route.rest} />` : html`<${NodesPage} dc=${route.dc} />`;
  else if (route.section === 'kv') page = html`<${KvPage} dc=${route.dc} path=${route.rest} key=${route.rest} />`;
  else if (route.section === 'sessions') page = html`<${SessionsPage} dc=${route.dc} />`;
  else if (route.section === 'coordination') page = html`<${CoordinationPage} dc=${route.dc} />`;
  else page = html`<${PageTitle}>Not found<//><p>There is no page ${path}.</p>`;
  return html`<${Frame} route=${route}>${page}<//>`;
}

// A path like /ui/dc1/kv (no trailing slash) means the root folder.
if (/^\/ui\/[^/]+\/kv$/.test(window.location.pathname)) window.history.replaceState(null, '', `${window.location.pathname}/`);
render(html`<${App} />`, document.getElementById('app') as HTMLElement);
