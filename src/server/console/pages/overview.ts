/**
 * The overview: every stream of every tenant with its state, lag against its objective, last
 * run, rows sent and rejected, next run and why it is parked or failing; filtered, sorted and
 * paged on the server (overview-rows.ts), reloading itself every 15 s.
 */
import type { FastifyInstance } from 'fastify';
import { PullerError } from '../../../errors.ts';
import { streamStatuses } from '../../../scheduler/stream-status.ts';
import type { ConsoleContext } from '../console.ts';
import { overviewPage, SORTS, STATES } from '../overview-rows.ts';
import { duration, sendPage, streamPath, views, when } from '../views.ts';
import { field } from '../fields.ts';
import { noticeOf } from './notices.ts';

const OVERVIEW = `<h1>Streams</h1>
<% if (it.notice) { %><div class="notice"><%= it.notice %></div><% } %>
<p class="muted"><% for (const s of it.states) { %><a href="<%= it.link({ state: s, cursor: undefined }) %>"><%= it.counts[s] %> <%= s %></a> · <% } %><a href="<%= it.link({ state: undefined, cursor: undefined }) %>">all</a></p>
<form method="get" action="/console" class="bar">
<label>Tenant<input name="tenant" value="<%= it.q.tenant ?? '' %>" placeholder="part of a tenant id" maxlength="128"></label>
<label>State<select name="state"><option value="">any</option><% for (const s of it.states) { %><option<%= s === it.q.state ? ' selected' : '' %>><%= s %></option><% } %></select></label>
<label>Sort by<select name="sort"><% for (const s of it.sorts) { %><option<%= s === it.q.sort ? ' selected' : '' %>><%= s %></option><% } %></select></label>
<label>Order<select name="dir"><option value="asc"<%= it.q.desc ? '' : ' selected' %>>ascending</option><option value="desc"<%= it.q.desc ? ' selected' : '' %>>descending</option></select></label>
<button class="act">Show</button></form>
<p class="muted small"><%= it.matching %> stream(s) match; refreshed <%= it.now %>.</p>
<table><thead><tr><th>Tenant</th><th>Connector</th><th>Stream</th><th>State</th><th class="num">Lag / objective</th><th>Last run</th><th class="num">Sent</th><th class="num">Rejected</th><th>Next run</th><th>Problem</th></tr></thead><tbody>
<% for (const r of it.rows) { %><tr data-stream="<%= r.connector %>/<%= r.stream %>">
<td><%= r.tenant %></td><td><%= r.connector %></td><td><a href="<%= it.streamPath(r.connector, r.stream) %>"><%= r.stream %></a></td>
<td><span class="badge s-<%= r.state %>"><%= r.state %></span></td>
<td class="num<%= r.lagBreached ? ' late' : '' %>"><%= it.duration(r.lagSeconds) %><% if (r.lagObjectiveSeconds !== null) { %> / <%= it.duration(r.lagObjectiveSeconds) %><% } %></td>
<td><% if (r.lastRun) { %><%= r.lastRun.kind %> <%= r.lastRun.status %> <span class="muted small"><%= it.when(r.lastRun.startedAt) %></span><% } else { %><span class="muted">never</span><% } %></td>
<td class="num"><%= r.lastRun ? r.lastRun.sent : '-' %></td><td class="num"><%= r.lastRun ? r.lastRun.rejected : '-' %></td>
<td class="small"><%= it.when(r.nextRun) %></td>
<td class="small err"><%= r.lastError ? (r.lastError.length > 140 ? r.lastError.slice(0, 140) + '…' : r.lastError) : '' %></td></tr><% } %>
</tbody></table>
<% if (it.rows.length === 0) { %><p class="muted">No stream matches.</p><% } %>
<p><% if (it.next) { %><a href="<%= it.link({ cursor: it.next }) %>">Next page →</a> · <% } %><% if (it.q.cursor) { %><a href="<%= it.link({ cursor: undefined }) %>">First page</a><% } %></p>`;
views.loadTemplate('@overview', OVERVIEW);

export function registerOverview(app: FastifyInstance, ctx: ConsoleContext): void {
  app.get('/', async (req, reply) => {
    const raw = Object.fromEntries(['state', 'tenant', 'sort', 'dir', 'cursor', 'limit', 'notice'].map((name) => [name, field(req.query, name)]));
    const state = raw.state ? (STATES.find((s) => s === raw.state) ?? invalid('state', STATES)) : undefined;
    const sort = raw.sort ? (SORTS.find((s) => s === raw.sort) ?? invalid('sort', SORTS)) : 'tenant';
    const tenant = raw.tenant?.slice(0, 128) || undefined;
    const q = { state, tenant, sort, desc: raw.dir === 'desc', limit: raw.limit, cursor: raw.cursor || undefined };
    const page = overviewPage(await streamStatuses(ctx.db), q);
    // Links keep the filter and sort; a change of them starts from the first page.
    const link = (change: Partial<Record<'state' | 'cursor', string | undefined>>) => {
      const params = new URLSearchParams();
      const merged = { state, tenant, sort: sort as string, dir: q.desc ? 'desc' : 'asc', limit: raw.limit, cursor: q.cursor, ...change };
      for (const [k, v] of Object.entries(merged)) if (v) params.set(k, v);
      return `/console?${params.toString()}`;
    };
    return sendPage(reply, { title: 'Streams', session: req.consoleSession, refreshSeconds: 15 }, '@overview', {
      ...page, q, states: STATES, sorts: SORTS, link, streamPath, duration, when, now: when(new Date().toISOString()),
      notice: noticeOf(raw.notice),
    });
  });
}

function invalid(name: string, allowed: readonly string[]): never {
  throw new PullerError('RP_CONFIG_INVALID', `${name} must be one of ${allowed.join(', ')}`);
}

