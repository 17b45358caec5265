/**
 * A stream's page: its state and error, a chart of rows and lag over its recent runs, run
 * history, the open quarantine (reasons and masked ids only), backfills with progress and ETA,
 * the actions an operator needs (stream-actions.ts) and the trail of what operators did.
 */
import type { FastifyInstance } from 'fastify';
import { listBackfills } from '../../../backfill/backfill-progress.ts';
import { streamTimeZone } from '../../../config/stream-time-zone.ts';
import { formatPosition } from '../../../engine/reset-stream.ts';
import { findStream } from '../../../engine/stream-plan.ts';
import { PullerError } from '../../../errors.ts';
import type { Position } from '../../../interfaces.ts';
import { listRuns } from '../../../scheduler/run-history.ts';
import { lagSeconds, streamStatuses } from '../../../scheduler/stream-status.ts';
import { getConnector } from '../../../store/connector-registry.ts';
import { listRejectionPage } from '../../../store/delivery-state.ts';
import { API_PAGE_PARAMETERS, pageRequest, REJECTS_LIST, RUNS_LIST } from '../../../store/keyset-page.ts';
import { listActions } from '../../../store/operator-actions.ts';
import type { ConsoleContext } from '../console.ts';
import { runChart, type ChartPoint } from '../run-chart.ts';
import { duration, mask, maskReason, sendPage, streamPath, views, when } from '../views.ts';
import { field } from '../fields.ts';
import { noticeOf } from './notices.ts';

const STREAM = `<p class="muted small"><a href="/console">Streams</a> › tenant <%= it.s.tenant %> › connector <%= it.s.connector %> (<a href="/console/connectors/<%= encodeURIComponent(it.s.connector) %>/edit">edit</a>)</p>
<h1><%= it.s.connector %> / <%= it.s.stream %> <span class="badge s-<%= it.s.state %>"><%= it.s.state %></span></h1>
<% if (it.notice) { %><div class="notice"><%= it.notice %></div><% } %>
<% if (it.s.lastError) { %><div class="problem" id="last-error"><strong><%= it.s.parkedReason ? 'Parked' : 'Last run failed' %>:</strong> <%= it.s.lastError %></div><% } %>
<div class="grid"><div class="panel"><dl class="kv">
<dt>Lag</dt><dd class="<%= it.s.lagBreached ? 'late' : '' %>"><%= it.duration(it.s.lagSeconds) %><% if (it.s.lagObjectiveSeconds !== null) { %> (objective <%= it.duration(it.s.lagObjectiveSeconds) %><%= it.s.lagBreached ? ', breached' : '' %>)<% } %></dd>
<dt>Watermark</dt><dd><code><%= it.watermark %></code></dd>
<dt>Last run</dt><dd><% if (it.s.lastRun) { %><%= it.s.lastRun.kind %> <%= it.s.lastRun.status %> at <%= it.when(it.s.lastRun.startedAt) %>: <%= it.s.lastRun.sent %> sent, <%= it.s.lastRun.rejected %> rejected<% } else { %>never<% } %></dd>
<dt>Next run</dt><dd><%= it.when(it.s.nextRun) %></dd>
<dt>View</dt><dd><code><%= it.view %></code> → Reach schema <code><%= it.schema %></code></dd>
</dl></div>
<div class="panel"><strong>Actions</strong>
<div class="bar">
<form method="post" action="<%= it.base %>/pull" class="inline"><input type="hidden" name="_csrf" value="<%= it.session.csrf %>"><button class="act">Pull now</button></form>
<% if (it.s.parkedReason) { %><form method="post" action="<%= it.base %>/unpark" class="inline"><input type="hidden" name="_csrf" value="<%= it.session.csrf %>"><button class="act">Unpark</button></form><% } %>
<form method="post" action="<%= it.base %>/retry-rejects" class="inline"><input type="hidden" name="_csrf" value="<%= it.session.csrf %>"><button class="act"<%= it.rejects.items.length ? '' : ' disabled' %>>Retry rejects</button></form>
</div>
<form method="post" action="<%= it.base %>/backfills" class="bar"><input type="hidden" name="_csrf" value="<%= it.session.csrf %>">
<label>Backfill from (cursor, inclusive)<input name="from" maxlength="64" placeholder="beginning"></label><label>to<input name="to" maxlength="64" placeholder="now"></label>
<button class="act">Start backfill</button></form>
<form method="post" action="<%= it.base %>/reset/confirm" class="bar"><input type="hidden" name="_csrf" value="<%= it.session.csrf %>">
<label>Reset watermark to cursor<input name="cursor" maxlength="64" placeholder="beginning"></label><label>key (JSON array)<input name="key" maxlength="256" value="[]"></label>
<button class="act plain">Reset…</button></form>
</div></div>

<h2>Runs</h2>
<%~ it.chart %>
<table><thead><tr><th>Run</th><th>Kind</th><th>Status</th><th>Started</th><th>Ended</th><th class="num">Read</th><th class="num">Sent</th><th class="num">Rejected</th><th>Error</th></tr></thead><tbody>
<% for (const r of it.runs.items) { %><tr><td><%= r.id %></td><td><%= r.kind %></td><td><%= r.status %></td><td class="small"><%= it.when(r.startedAt) %></td><td class="small"><%= it.when(r.endedAt) %></td>
<td class="num"><%= r.read %></td><td class="num"><%= r.sent %></td><td class="num"><%= r.rejected %></td><td class="small err"><%= r.error ?? '' %></td></tr><% } %>
</tbody></table>
<% if (it.runs.next) { %><p><a href="<%= it.base %>?runs=<%= it.runs.next %>">Older runs →</a></p><% } %>

<h2>Backfills</h2>
<% if (it.backfills.length === 0) { %><p class="muted">None.</p><% } else { %>
<table><thead><tr><th>Id</th><th>State</th><th>Range</th><th>Progress</th><th class="num">Rows</th><th class="num">Rate</th><th>ETA</th><th></th></tr></thead><tbody>
<% for (const b of it.backfills) { %><tr data-backfill="<%= b.id %>"><td><%= b.id %></td><td><span class="badge s-<%= b.state === 'running' ? 'running' : b.state === 'succeeded' ? 'ok' : b.state === 'cancelled' ? 'disabled' : 'failing' %>"><%= b.state %></span></td>
<td class="small"><%= b.from ?? 'beginning' %> → <%= b.to ?? 'now' %></td>
<td><progress max="100" value="<%= b.percent.toFixed(1) %>"></progress> <%= b.percent.toFixed(1) %>%</td>
<td class="num"><%= b.rowsDone %> / <%= b.rowsEstimated %></td><td class="num"><%= b.rowsPerSecond %>/s</td><td><%= it.duration(b.etaSeconds) %></td>
<td><% if (b.state === 'running' || b.state === 'failed') { %><form method="post" action="<%= it.base %>/backfills/<%= b.id %>/cancel" class="inline"><input type="hidden" name="_csrf" value="<%= it.session.csrf %>"><button class="act danger">Cancel</button></form><% } %>
<% if (b.state === 'interrupted' || b.state === 'failed' || b.state === 'cancelled') { %><form method="post" action="<%= it.base %>/backfills/<%= b.id %>/resume" class="inline"><input type="hidden" name="_csrf" value="<%= it.session.csrf %>"><button class="act">Resume</button></form><% } %>
<% if (b.error) { %><div class="small err"><%= b.error %></div><% } %></td></tr><% } %>
</tbody></table><% } %>

<h2>Quarantine (open)</h2>
<% if (it.rejects.items.length === 0) { %><p class="muted">Nothing in quarantine.</p><% } else { %>
<table><thead><tr><th>External id</th><th>Key</th><th>Fields</th><th>Reason</th><th>Since</th></tr></thead><tbody>
<% for (const r of it.rejects.items) { %><tr><td><%= it.mask(r.externalId) %></td><td><%= r.sourceKey.map(it.mask).join(', ') %></td><td><%= r.fields.join(', ') %></td><td class="small"><%= it.maskReason(r.reason) %></td><td class="small"><%= it.when(r.createdAt.toISOString()) %></td></tr><% } %>
</tbody></table>
<% if (it.rejects.next) { %><p><a href="<%= it.base %>?rejects=<%= it.rejects.next %>">More →</a></p><% } %><% } %>

<h2>Operator actions</h2>
<% if (it.trail.length === 0) { %><p class="muted">None yet.</p><% } else { %>
<table id="trail"><thead><tr><th>When</th><th>Who</th><th>What</th><th>Detail</th><th>Outcome</th></tr></thead><tbody>
<% for (const a of it.trail) { %><tr><td class="small"><%= it.when(a.at) %></td><td><%= a.operator %></td><td><%= a.action %><%= a.stream ? '' : ' (connector)' %></td><td class="small"><code><%= JSON.stringify(a.detail) %></code></td><td class="<%= a.outcome === 'ok' ? '' : 'err' %>"><%= a.outcome %></td></tr><% } %>
</tbody></table><% } %>`;
views.loadTemplate('@stream', STREAM);

export interface StreamParams {
  connector: string;
  stream: string;
}

export function registerStreamPage(app: FastifyInstance, ctx: ConsoleContext): void {
  app.get<{ Params: StreamParams }>('/streams/:connector/:stream', async (req, reply) => {
    const { connector: id, stream: name } = req.params;
    const connector = await getConnector(ctx.db, id);
    const config = findStream(connector, name);
    const status = (await streamStatuses(ctx.db, { connector: id })).find((s) => s.stream === name);
    if (!status) throw new PullerError('RP_NOT_FOUND', `No stream "${name}" in connector "${id}"`);
    const runs = await listRuns(ctx.db, id, { stream: name }, pageRequest(RUNS_LIST, { limit: '50', cursor: field(req.query, 'runs') }, API_PAGE_PARAMETERS));
    const rejects = await listRejectionPage(ctx.db, id, { stream: name }, pageRequest(REJECTS_LIST, { limit: '25', cursor: field(req.query, 'rejects') }, API_PAGE_PARAMETERS));
    const backfills = await listBackfills(ctx.db, { stream: { connectorId: id, stream: name }, limit: 10 });
    const settle = config.settle_seconds ?? connector.config.source.settle_seconds;
    const timeZone = streamTimeZone(connector.config, config);
    // Oldest left; lag as it stood when each successful run ended (stream-status.ts's definition).
    const points: ChartPoint[] = [...runs.items].reverse().filter((r) => r.kind !== 'verify').map((r) => ({
      at: r.startedAt, sent: r.sent, failed: r.status === 'failed',
      lagSeconds: r.status === 'succeeded' && r.endedAt && r.kind !== 'backfill'
        ? lagSeconds({ watermarkCursor: (r.watermarkAfter as Position | null)?.cursor, lastSuccessStart: new Date(r.startedAt), settleSeconds: settle, timeZone, now: new Date(r.endedAt) })
        : null,
    }));
    return sendPage(reply, { title: `${id}/${name}`, session: req.consoleSession, refreshSeconds: 15 }, '@stream', {
      s: status, view: config.view, schema: config.schema, watermark: formatPosition(status.watermark ?? undefined),
      base: streamPath(id, name), chart: runChart(points), runs, rejects, backfills, trail: await listActions(ctx.db, id, name),
      notice: noticeOf(field(req.query, 'notice')), duration, when, mask, maskReason,
    });
  });
}
