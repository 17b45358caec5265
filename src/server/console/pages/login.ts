/**
 * Logging in and out. The form takes the ops token (compared in constant time, never echoed,
 * never in a URL: it is POSTed) and the operator's name, which the trail records as "who".
 */
import type { FastifyInstance } from 'fastify';
import type { ConsoleContext } from '../console.ts';
import { field } from '../fields.ts';
import { OPERATOR_NAME, SESSION_COOKIE, SESSION_SECONDS } from '../session.ts';
import { sendPage, views } from '../views.ts';

const LOGIN = `<h1>Log in</h1>
<% if (it.problem) { %><div class="problem"><%= it.problem %></div><% } %>
<form method="post" action="/console/login" class="panel">
<div class="bar"><label>Your name (recorded with every action)<input name="operator" required maxlength="64" autocomplete="username" value="<%= it.operator %>"></label>
<label>Ops token (REACH_PULLER_OPS_TOKEN)<input name="token" type="password" required autocomplete="current-password"></label>
<button class="act">Log in</button></div></form>`;
views.loadTemplate('@login', LOGIN);

export function registerLogin(app: FastifyInstance, ctx: ConsoleContext): void {
  app.get('/login', async (_req, reply) => sendPage(reply, { title: 'Log in' }, '@login', { operator: '' }));

  app.post('/login', async (req, reply) => {
    const operator = (field(req.body, 'operator') ?? '').trim();
    const token = field(req.body, 'token') ?? '';
    if (!OPERATOR_NAME.test(operator)) {
      return sendPage(reply, { title: 'Log in' }, '@login', { operator: '', problem: 'Give your name: letters, digits, spaces and . _ @ \' -, up to 64.' }, 400);
    }
    const wait = ctx.guesses.retryAfterSeconds(req.ip);
    if (wait > 0) {
      ctx.log.warn({ operator }, 'console login refused: too many wrong tokens from this address');
      return sendPage(reply.header('retry-after', String(wait)), { title: 'Log in' }, '@login', { operator, problem: `Too many wrong tokens from this address: try again in ${wait} s.` }, 429);
    }
    if (!ctx.keys.tokenMatches(token)) {
      ctx.guesses.wrong(req.ip);
      ctx.log.warn({ operator }, 'console login refused: wrong ops token');
      return sendPage(reply, { title: 'Log in' }, '@login', { operator, problem: 'That is not the ops token.' }, 401);
    }
    const { cookie } = ctx.keys.open(operator);
    ctx.log.info({ operator }, 'console login');
    // Secure over https, also where a proxy ended the TLS and says so: the header is not trusted
    // for anything else, and can only keep the cookie off plain http, never send it there.
    const https = req.protocol === 'https' || req.headers['x-forwarded-proto'] === 'https';
    return reply.setCookie(SESSION_COOKIE, cookie, {
      path: '/console', httpOnly: true, sameSite: 'strict', secure: https, maxAge: SESSION_SECONDS,
    }).redirect('/console', 303);
  });

  app.post('/logout', async (_req, reply) => reply.clearCookie(SESSION_COOKIE, { path: '/console' }).redirect('/console/login', 303));
}
