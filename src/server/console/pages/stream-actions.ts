/**
 * The stream page's forms: pull now, unpark, retry rejects, start/cancel/resume a backfill,
 * and reset the watermark after a confirmation showing the old and the new position. Each
 * calls OpsActions (as the API does), is recorded, and redirects back to the page with a
 * notice (post/redirect/get: a reload does not repeat it).
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { formatPosition, parseKey } from '../../../engine/reset-stream.ts';
import { findStream } from '../../../engine/stream-plan.ts';
import { PullerError } from '../../../errors.ts';
import type { Position } from '../../../interfaces.ts';
import { getConnector } from '../../../store/connector-registry.ts';
import { loadWatermark, type StreamRef } from '../../../store/delivery-state.ts';
import type { ConsoleContext } from '../console.ts';
import { field } from '../fields.ts';
import { sendPage, streamPath, views } from '../views.ts';
import type { StreamParams } from './stream.ts';

const CONFIRM_RESET = `<h1>Reset the watermark of <%= it.connector %> / <%= it.stream %>?</h1>
<div class="panel"><dl class="kv"><dt>Now</dt><dd><code id="old-position"><%= it.before %></code></dd><dt>After the reset</dt><dd><code id="new-position"><%= it.after %></code></dd></dl>
<p class="muted">The next pull reads the rows after the new position. Back: rows read again are sent only where they differ from what was delivered. Forward: pulls never read the rows in between (a backfill does).</p>
<form method="post" action="<%= it.base %>/reset" class="bar"><input type="hidden" name="_csrf" value="<%= it.session.csrf %>">
<input type="hidden" name="cursor" value="<%= it.cursor %>"><input type="hidden" name="key" value="<%= it.key %>"><input type="hidden" name="expected" value="<%= it.expected %>">
<button class="act danger">Reset the watermark</button> <a href="<%= it.base %>">Cancel</a></form></div>`;
views.loadTemplate('@confirm-reset', CONFIRM_RESET);

export function registerStreamActions(app: FastifyInstance, ctx: ConsoleContext): void {
  const back = (reply: FastifyReply, p: StreamParams, notice: string) => reply.redirect(`${streamPath(p.connector, p.stream)}?notice=${notice}`, 303);
  const where = (p: StreamParams) => ({ connector: p.connector, stream: p.stream });

  app.post<{ Params: StreamParams }>('/streams/:connector/:stream/pull', async (req, reply) => {
    const detail: Record<string, unknown> = {};
    const { started } = await ctx.act(req, { ...where(req.params), action: 'pull', detail }, async () => {
      const result = await ctx.actions.pull(req.params.connector, req.params.stream);
      // The trail says why nothing started (running, parked, disabled...), not a plain "ok".
      if (result.skipped[0]) detail.skipped = result.skipped[0].reason;
      return result;
    }, (r) => (r.started.length > 0 ? 'ok' : 'skipped'));
    return back(reply, req.params, started.length > 0 ? 'pull-started' : 'pull-skipped');
  });

  app.post<{ Params: StreamParams }>('/streams/:connector/:stream/unpark', async (req, reply) => {
    await ctx.act(req, { ...where(req.params), action: 'unpark' }, () => ctx.actions.unpark(req.params.connector, req.params.stream));
    return back(reply, req.params, 'unparked');
  });

  app.post<{ Params: StreamParams }>('/streams/:connector/:stream/retry-rejects', async (req, reply) => {
    const detail: Record<string, unknown> = {};
    await ctx.act(req, { ...where(req.params), action: 'retry-rejects', detail }, async () => {
      const [summary] = await ctx.actions.retryRejects(req.params.connector, req.params.stream);
      // Recorded with the action: how many of the entries now passed.
      if (summary) Object.assign(detail, { entries: summary.entries, resolved: summary.resolved, stillFailing: summary.stillFailing, gone: summary.gone });
    });
    return back(reply, req.params, 'rejects-retried');
  });

  app.post<{ Params: StreamParams }>('/streams/:connector/:stream/backfills', async (req, reply) => {
    const from = text(field(req.body, 'from'));
    const to = text(field(req.body, 'to'));
    const detail: Record<string, unknown> = { from: from ?? null, to: to ?? null };
    await ctx.act(req, { ...where(req.params), action: 'backfill.start', detail }, async () => {
      detail.backfill = (await ctx.actions.startBackfill({ connector: req.params.connector, stream: req.params.stream, from, to })).id;
    });
    return back(reply, req.params, 'backfill-started');
  });

  app.post<{ Params: StreamParams & { id: string } }>('/streams/:connector/:stream/backfills/:id/cancel', backfillId, async (req, reply) => {
    await ctx.act(req, { ...where(req.params), action: 'backfill.cancel', detail: { backfill: req.params.id } }, () => ctx.actions.cancelBackfill(req.params.id, ref(req.params)));
    return back(reply, req.params, 'backfill-cancelled');
  });

  app.post<{ Params: StreamParams & { id: string } }>('/streams/:connector/:stream/backfills/:id/resume', backfillId, async (req, reply) => {
    await ctx.act(req, { ...where(req.params), action: 'backfill.resume', detail: { backfill: req.params.id } }, () => ctx.actions.resumeBackfill(req.params.id, ref(req.params)));
    return back(reply, req.params, 'backfill-resumed');
  });

  // Shows what would change; nothing is written until the confirmation's own form is sent.
  app.post<{ Params: StreamParams }>('/streams/:connector/:stream/reset/confirm', async (req, reply) => {
    const { connector, stream } = req.params;
    findStream(await getConnector(ctx.db, connector), stream);
    const after = await position(ref(req.params), req.body);
    const before = await loadWatermark(ctx.db, ref(req.params));
    return sendPage(reply, { title: 'Reset the watermark', session: req.consoleSession }, '@confirm-reset', {
      connector, stream, base: streamPath(connector, stream), before: formatPosition(before), after: formatPosition(after),
      cursor: after?.cursor ?? '', key: JSON.stringify(after?.key ?? []),
      // The position shown as "Now": applied only if the watermark is still there.
      expected: JSON.stringify(before ?? null),
    });
  });

  app.post<{ Params: StreamParams }>('/streams/:connector/:stream/reset', async (req, reply) => {
    const detail: Record<string, unknown> = { to: field(req.body, 'cursor') ?? null };
    // Inside the recorded action: a reset refused for its input is in the trail too.
    await ctx.act(req, { ...where(req.params), action: 'reset', detail }, async () => {
      const to = await position(ref(req.params), req.body);
      const expected = expectedPosition(field(req.body, 'expected'));
      detail.to = formatPosition(to);
      const { before } = await ctx.actions.reset(ref(req.params), { mode: 'watermark', to, expected });
      detail.from = formatPosition(before);
    });
    return back(reply, req.params, 'reset');
  });

  /** The position a reset form names, checked against the stream's cursor kind; no cursor: the beginning. */
  const position = async (at: StreamRef, body: unknown): Promise<Position | undefined> =>
    ctx.actions.resetPosition(at, text(field(body, 'cursor')), parseKey(field(body, 'key')?.trim() || '[]', 'key'));
}

const ref = (p: StreamParams): StreamRef => ({ connectorId: p.connector, stream: p.stream });

const backfillId = { schema: { params: { type: 'object', properties: { id: { type: 'string', pattern: '^[0-9]{1,18}$' } }, required: ['id'] } } };

/** A form field as an optional value: blank is absent. */
function text(value: string | undefined): string | undefined {
  const v = value?.trim();
  return v ? v.slice(0, 64) : undefined;
}

/** The watermark a confirmation showed (JSON, null: none); a reset not sent from a confirmation is refused. */
function expectedPosition(value: string | undefined): Position | null {
  const refused = () => new PullerError('RP_CONFIG_INVALID', 'a reset is applied from its confirmation page (its "expected" position is missing or malformed); use Reset… on the stream page');
  if (value === undefined) throw refused();
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw refused();
  }
  if (parsed === null) return null;
  const p = parsed as Partial<Position>;
  if (typeof p.cursor !== 'string' || !Array.isArray(p.key) || !p.key.every((k) => typeof k === 'string')) throw refused();
  return { cursor: p.cursor, key: p.key };
}
