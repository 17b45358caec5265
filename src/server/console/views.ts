/**
 * Server-rendered HTML: eta templates (escaping every `<%= %>` by default; `<%~ %>` is used
 * only for HTML this module or run-chart.ts built from escaped parts), the page layout, and
 * the formatting every page shares. Templates live beside their page as TypeScript strings, so
 * `tsc` ships them in dist/ and nothing is built or fetched at run time.
 */
import { randomBytes } from 'node:crypto';
import { Eta } from 'eta';
import type { FastifyReply } from 'fastify';
import type { Session } from './session.ts';

export const views = new Eta({ useWith: false, autoEscape: true, cache: true });

/** What the layout needs besides the page's body. */
export interface PageFrame {
  title: string;
  session?: Session;
  /** Reload the page every this many seconds, unless the operator is typing. */
  refreshSeconds?: number;
  /** A script of this module's own (never built from data), e.g. reading an uploaded file into a field. */
  script?: string;
}

const STYLE = `
:root{--fg:#1d2330;--muted:#5d6778;--line:#dde2ea;--bg:#f6f7f9;--ok:#1f7a3d;--bad:#b42318;--info:#1d4ed8}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{display:flex;gap:1.5rem;align-items:center;padding:.6rem 1.2rem;background:#1d2330;color:#fff}
header a{color:#fff;text-decoration:none}header .who{margin-left:auto;color:#c9d1de}header form{display:inline}
header button{background:none;border:1px solid #5d6778;color:#fff;padding:.15rem .6rem;border-radius:4px;cursor:pointer}
main{padding:1rem 1.2rem;max-width:1400px}h1{font-size:1.3rem;margin:.2rem 0 .8rem}h2{font-size:1.05rem;margin:1.4rem 0 .5rem}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid var(--line)}th,td{padding:.35rem .5rem;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600;white-space:nowrap}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
a{color:var(--info)}.muted{color:var(--muted)}.err{color:var(--bad)}.small{font-size:12px}
.badge{display:inline-block;padding:0 .45rem;border-radius:9px;font-size:12px;font-weight:600;color:#fff;background:var(--muted)}
.s-ok{background:var(--ok)}.s-running,.s-backfilling{background:var(--info)}.s-failing,.s-parked{background:var(--bad)}.s-disabled{background:#8a93a3}
.late{color:var(--bad);font-weight:600}form.inline{display:inline}
.bar{display:flex;gap:.6rem;align-items:end;flex-wrap:wrap;margin:.4rem 0 .8rem}.bar label{display:flex;flex-direction:column;font-size:12px;color:var(--muted)}
input,select,textarea,button{font:inherit}input,select{padding:.25rem .4rem;border:1px solid #b8c0cc;border-radius:4px}
button.act{padding:.3rem .8rem;border:1px solid #1d4ed8;background:#1d4ed8;color:#fff;border-radius:4px;cursor:pointer}
button.danger{border-color:var(--bad);background:var(--bad)}button.plain{background:#fff;color:var(--fg);border-color:#b8c0cc}
.panel{background:#fff;border:1px solid var(--line);padding:.8rem 1rem;margin:.6rem 0;border-radius:4px}
.notice{background:#e8f3ec;border:1px solid #9fd3b0;padding:.5rem .8rem;border-radius:4px;margin:.5rem 0}
.problem{background:#fdecea;border:1px solid #f2b8b5;padding:.5rem .8rem;border-radius:4px;margin:.5rem 0}
progress{width:240px;height:12px;vertical-align:middle}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:.8rem}
textarea{width:100%;min-height:24rem;font:13px/1.4 ui-monospace,Menlo,Consolas,monospace;padding:.5rem;border:1px solid #b8c0cc;border-radius:4px}
.chart{width:100%;max-width:640px;height:auto}.chart text{font-size:11px;fill:var(--muted)}dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:.2rem .8rem;margin:0}dl.kv dt{color:var(--muted)}dl.kv dd{margin:0}
`;

// Reloads the page now and then, but never under an operator's hands (a focused field).
const REFRESH_SCRIPT = `setInterval(function(){var a=document.activeElement;if(!a||a===document.body)location.reload()},%MS%);`;

const LAYOUT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title><%= it.title %> · reach-puller console</title><style nonce="<%= it.nonce %>"><%~ it.style %></style></head>
<body><header><a href="/console"><strong>reach-puller</strong> console</a>
<% if (it.session) { %><a href="/console">Overview</a><a href="/console/connectors/new">Register a connector</a>
<span class="who">operator <strong><%= it.session.operator %></strong></span>
<form method="post" action="/console/logout"><input type="hidden" name="_csrf" value="<%= it.session.csrf %>"><button>Log out</button></form><% } %>
</header><main><%~ it.body %></main>
<% if (it.script) { %><script nonce="<%= it.nonce %>"><%~ it.script %></script><% } %>
</body></html>`;
views.loadTemplate('@layout', LAYOUT);

/** Renders a page's template inside the layout and sends it with the console's security headers. */
export function sendPage(reply: FastifyReply, frame: PageFrame, template: string, data: object, status = 200): FastifyReply {
  const nonce = randomBytes(16).toString('base64');
  const body = views.render(template, { ...data, session: frame.session });
  const html = views.render('@layout', {
    title: frame.title, session: frame.session, nonce, style: STYLE, body,
    script: [frame.refreshSeconds ? REFRESH_SCRIPT.replace('%MS%', String(frame.refreshSeconds * 1000)) : '', frame.script ?? ''].join('') || undefined,
  });
  return reply.code(status).headers(securityHeaders(nonce)).type('text/html; charset=utf-8').send(html);
}

/** A strict CSP (nothing from elsewhere, inline style and script only with this response's nonce), no caching, no framing. */
export function securityHeaders(nonce: string): Record<string, string> {
  return {
    'content-security-policy': `default-src 'none'; style-src 'nonce-${nonce}'; script-src 'nonce-${nonce}'; img-src 'self' data:; `
      + "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'same-origin',
  };
}

/** Seconds as `1h02m`, `3m10s`, `42s`; `-` when unknown. */
export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '-';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86400)}d${String(Math.floor((s % 86400) / 3600)).padStart(2, '0')}h`;
}

/** An ISO time as `2026-11-30 10:36:09Z`; `-` when absent. */
export function when(iso: string | null | undefined): string {
  return iso ? `${iso.slice(0, 10)} ${iso.slice(11, 19)}Z` : '-';
}

/**
 * A value that may be personal (an external id, a key, an email in a reason) shown masked:
 * its first and last character and its length, enough to tell two apart, not to read one.
 */
export function mask(value: string | null | undefined): string {
  if (value === null || value === undefined || value === '') return '-';
  if (value.length <= 3) return '•'.repeat(value.length);
  return `${value[0]}${'•'.repeat(Math.min(value.length - 2, 8))}${value.at(-1)} (${value.length})`;
}

/**
 * A reason with every quoted value in it masked: validators quote the offending value with
 * JSON.stringify, so a "..." value may hold ' (O'Brien) and escaped \" or \\; a '...' one
 * ends at its next '.
 */
export function maskReason(reason: string): string {
  return reason.replace(/"((?:[^"\\\n]|\\.){1,200})"|'([^'\n]{1,200})'/g, (_m, double: string | undefined, single: string | undefined) =>
    (double !== undefined ? `"${mask(double)}"` : `'${mask(single)}'`));
}

/** The console's URL of a stream's page. */
export function streamPath(connector: string, stream: string): string {
  return `/console/streams/${encodeURIComponent(connector)}/${encodeURIComponent(stream)}`;
}

views.loadTemplate('@error', `<h1>Something went wrong</h1>
<div class="problem"><% if (it.code) { %><strong><%= it.code %></strong>: <% } %><%= it.message %>
<% if (it.advice) { %><div class="muted small"><%= it.advice %></div><% } %></div>
<p><% if (it.login) { %><a href="/console/login">Log in</a> · <% } %><% if (it.back) { %><a href="<%= it.back %>">Back to the stream</a> · <% } %><a href="/console">The overview</a></p>`);
