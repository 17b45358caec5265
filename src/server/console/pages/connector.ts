/**
 * Registering or changing a connector from the browser: paste (or load a file into) the YAML,
 * "Check" validates it exactly as `apply` does and lists every problem with its line, then
 * runs the connection test and previews each stream's first mapped records (values masked);
 * "Save" registers it. Nothing is stored before Save, and nothing is saved that `apply` refuses.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isAlias, isNode, isScalar, parseDocument, stringify, visit } from 'yaml';
import { SECRET_REFERENCE } from '../../../config/connector-schema.ts';
import { ConfigError, PullerError, type ConfigProblem } from '../../../errors.ts';
import { describeError } from '../../../store/run-records.ts';
import { getConnector } from '../../../store/connector-registry.ts';
import type { ConsoleContext } from '../console.ts';
import { field } from '../fields.ts';
import { asUnregistered } from '../../ops-actions.ts';
import { mask, maskReason, sendPage, streamPath, views } from '../views.ts';

const CONNECTOR = `<h1><%= it.editing ? 'Change connector ' + it.id : 'Register a connector' %></h1>
<% if (it.problems.length) { %><div class="problem" id="problems"><strong><%= it.problems.length %> problem(s); nothing was saved.</strong><ul>
<% for (const p of it.problems) { %><li><% if (p.line) { %>line <%= p.line %>: <% } %><% if (p.path) { %><code><%= p.path %></code>: <% } %><%= p.message %></li><% } %></ul></div><% } %>
<% if (it.valid) { %><div class="notice" id="valid">Valid: <code>apply</code> would accept it<%= it.warnings.length ? ' (warnings: ' + it.warnings.join('; ') + ')' : '' %>. Check the test and preview below, then save.</div><% } %>
<form method="post" action="/console/connectors" class="panel"><input type="hidden" name="_csrf" value="<%= it.session.csrf %>">
<div class="bar"><label>Connector id<input name="id" required pattern="[a-z0-9][a-z0-9_\\-]{0,127}" value="<%= it.id %>"<%= it.editing ? ' readonly' : '' %>></label>
<label>Load a file<input type="file" id="file" accept=".yaml,.yml,.json"></label></div>
<textarea name="yaml" id="yaml" spellcheck="false" required placeholder="tenant: ...&#10;source: ...&#10;streams: ..."><%= it.yaml %></textarea>
<p class="muted small">Secrets are references (<code>\${secret:NAME}</code>, <code>\${env:NAME}</code>, <code>\${file:PATH}</code>); a password written out is refused.</p>
<div class="bar"><button class="act plain" name="intent" value="check">Check</button><button class="act" name="intent" value="save">Save</button></div></form>
<% if (it.test) { %><h2>Connection test</h2><div class="panel" id="test">
<% if (it.test.error) { %><div class="problem"><%= it.test.error %></div><% } else { %>
<p>Connected to <code><%= it.test.source %></code>; privileges: <%= it.test.writePrivileges.length ? 'WRITE: ' + it.test.writePrivileges.join(', ') + ' — ask the partner for a SELECT-only user' : 'read-only' %>.</p>
<ul><% for (const s of it.test.streams) { %><li><strong><%= s.stream %></strong> (<code><%= s.view %></code>): <%= s.ok ? 'ok, ' + s.cursorKind + ' cursor' : '' %><% if (!s.ok) { %><span class="err"><%= s.error %></span><% } %>
<% for (const w of (s.warnings ?? [])) { %><div class="small">warning: <%= w %></div><% } %></li><% } %></ul><% } %></div><% } %>
<% for (const p of it.previews) { %><h2>Preview of <%= p.stream %></h2><div class="panel">
<% if (p.error) { %><div class="problem"><%= p.error %></div><% } else if (p.rows.length === 0) { %><p class="muted">The view is empty.</p><% } else { %>
<table><thead><tr><th>External id</th><th>Action</th><th>Record (values masked)</th></tr></thead><tbody>
<% for (const r of p.rows) { %><tr><td><%= it.mask(r.externalId) %></td><td><%= r.action %><%= r.change ? ' (' + r.change + ')' : '' %></td>
<td class="small"><% if (r.reason) { %><span class="err"><%= it.maskReason(r.reason) %></span><% } else { %><code><%= it.masked(r.record) %></code><% } %></td></tr><% } %>
</tbody></table><% } %></div><% } %>`;
views.loadTemplate('@connector', CONNECTOR);

// Reads a chosen file into the text area; without script, pasting works the same.
const FILE_SCRIPT = `document.getElementById('file').addEventListener('change',function(e){var f=e.target.files[0];if(f)f.text().then(function(t){document.getElementById('yaml').value=t})});`;

const ID = /^[a-z0-9][a-z0-9_-]{0,127}$/;

export function registerConnectorPage(app: FastifyInstance, ctx: ConsoleContext): void {
  const show = (req: FastifyRequest, reply: FastifyReply, data: Partial<PageData>, status = 200) =>
    sendPage(reply, { title: 'Connector', session: req.consoleSession, script: FILE_SCRIPT }, '@connector',
      { id: '', yaml: '', editing: false, problems: [], valid: false, warnings: [], previews: [], mask, maskReason, masked, ...data }, status);

  app.get('/connectors/new', async (req, reply) => show(req, reply, {}));

  app.get<{ Params: { id: string } }>('/connectors/:id/edit', async (req, reply) => {
    const connector = await getConnector(ctx.db, req.params.id);
    // The stored config holds references only (`apply` refuses a written-out secret).
    return show(req, reply, { id: connector.id, yaml: stringify(connector.config), editing: true });
  });

  app.post('/connectors', async (req, reply) => {
    const id = (field(req.body, 'id') ?? '').trim();
    const yaml = field(req.body, 'yaml') ?? '';
    const intent = field(req.body, 'intent');
    const editing = await getConnector(ctx.db, id).then(() => true, () => false);
    const shown = { id, yaml: redactWrittenSecrets(yaml), editing };
    if (!ID.test(id)) return show(req, reply, { ...shown, problems: [{ path: 'id', message: 'lower-case letters, digits, _ or -, up to 128' }] }, 400);
    if (intent === 'save') {
      try {
        const { connector } = await ctx.act(req, { connector: id, action: editing ? 'connector.change' : 'connector.register' }, () => ctx.actions.register(id, yaml));
        return reply.redirect(`${streamPath(id, connector.config.streams[0]!.name)}?notice=saved`, 303);
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        return show(req, reply, { ...shown, problems: error.problems }, 400);
      }
    }
    let checked;
    try {
      checked = await ctx.actions.register(id, yaml, { dryRun: true });
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      return show(req, reply, { ...shown, problems: error.problems }, 400);
    }
    // The check connects to the partner with these credentials and reads rows of its view: recorded, with how each part went.
    const detail: Record<string, unknown> = {};
    const { test, previews } = await ctx.act(req, { connector: id, action: 'connector.check', detail }, async () => {
      const connector = asUnregistered(checked.connector);
      const test = await ctx.actions.check(connector).catch((error: unknown) => ({ error: failure(error) }));
      const previews = [];
      for (const s of connector.config.streams) {
        previews.push(await ctx.actions.preview(connector, s.name).then((p) => ({ stream: s.name, rows: p.rows }), (error: unknown) => ({ stream: s.name, rows: [], error: failure(error) })));
      }
      Object.assign(detail, { test: 'error' in test ? 'failed' : 'ok', previewed: Object.fromEntries(previews.map((p) => [p.stream, 'error' in p ? 'failed' : p.rows.length])) });
      return { test, previews };
    });
    return show(req, reply, { ...shown, valid: true, warnings: checked.warnings, test, previews });
  });
}

interface PageData {
  id: string;
  yaml: string;
  editing: boolean;
  problems: ConfigProblem[];
  valid: boolean;
  warnings: string[];
  test: unknown;
  previews: unknown[];
}

function failure(error: unknown): string {
  return error instanceof PullerError ? `${error.code}: ${describeError(error)}` : describeError(error);
}

/** A mapped record with every value masked: the preview shows its shape, not a customer's data. */
function masked(record: unknown): string {
  const walk = (v: unknown): unknown => (v === null || v === undefined ? v
    : Array.isArray(v) ? v.map(walk)
      : typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]))
        : mask(String(v)));
  return JSON.stringify(walk(record));
}

// Keys whose value is a credential wherever they appear (source.password, sink token...).
const SECRET_KEY = /^(password|passwd|token|secret|api[_-]?key|private[_-]?key|passphrase)$/i;

/**
 * The pasted text as shown back: a password or token written out (which `apply` refuses) is
 * not put on the page again, whoever reads it over the operator's shoulder. Found by parsing
 * with the loader's YAML parser (JSON, flow maps, block scalars and quoted keys included);
 * text it cannot parse is not shown back at all if it names a secret-bearing key.
 */
export function redactWrittenSecrets(text: string): string {
  const doc = parseDocument(text, { uniqueKeys: false });
  if (doc.errors.length > 0) return new RegExp(SECRET_KEY.source.slice(1, -1), 'i').test(text) ? '' : text;
  const ranges: [number, number][] = [];
  visit(doc, {
    Pair(_key, pair) {
      // An alias (`password: *pw`) names the value written at its anchor: that is what is removed.
      const value = isAlias(pair.value) ? pair.value.resolve(doc) : pair.value;
      if (!isScalar(pair.key) || !SECRET_KEY.test(String(pair.key.value)) || !isNode(value) || !value.range) return;
      if (isScalar(value) && (value.value === null || SECRET_REFERENCE.test(String(value.value)))) return;
      ranges.push([value.range[0], value.range[1]]);
    },
  });
  // From the end, so earlier offsets stay valid; a block scalar's range takes its line end along.
  return ranges.sort((a, b) => b[0] - a[0]).reduce((t, [start, end]) =>
    `${t.slice(0, start)}"<removed: write a \${secret:NAME} reference>"${t.slice(start, end).endsWith('\n') ? '\n' : ''}${t.slice(end)}`, text);
}
