/**
 * The ops console: HTML pages under /console on the ops API's port, for Reach ops who would
 * rather see 500 streams on a page than in a terminal. Behind the same ops token: a login
 * form takes it (and the operator's name, for the trail) and sets a signed session cookie
 * (session.ts); every state-changing request must be same-origin and carry the session's CSRF
 * token (csrf.ts). Everything an operator does goes through OpsActions, as the API's routes
 * do, and is recorded in `operator_actions`.
 */
import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import { PullerError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import { scrubSecrets } from '../../secrets/secret-registry.ts';
import { recordAction, type OperatorAction } from '../../store/operator-actions.ts';
import type { StoreSchema } from '../../store/schema.ts';
import type { OpsActions } from '../ops-actions.ts';
import { crossSiteRefusal, csrfTokenMatches } from './csrf.ts';
import { SESSION_COOKIE, SessionKeys, type Session } from './session.ts';
import { errorStatus } from '../error-status.ts';
import { sendPage, streamPath } from './views.ts';
import { registerLogin } from './pages/login.ts';
import { registerOverview } from './pages/overview.ts';
import { registerStreamPage } from './pages/stream.ts';
import { registerStreamActions } from './pages/stream-actions.ts';
import { registerConnectorPage } from './pages/connector.ts';
import type { TokenGuesses } from '../token-guesses.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The console session, set by the console's guard for every page but the login. */
    consoleSession?: Session;
  }
}

export interface ConsoleDeps {
  db: Kysely<StoreSchema>;
  actions: OpsActions;
  keys: SessionKeys;
  /** Wrong ops tokens per address, shared with the ops API's bearer check. */
  guesses: TokenGuesses;
  log: Logger;
}

/** What a page module gets: the deps and the recorder of actions. */
export interface ConsoleContext extends ConsoleDeps {
  /**
   * Runs an operator action and records it (who, what, how it ended), refused and failed ones
   * too; `outcomeOf` names an outcome other than `ok` for one that ran but did nothing (a skipped pull).
   */
  act<T>(req: FastifyRequest, what: Omit<OperatorAction, 'operator' | 'outcome'>, run: () => Promise<T>, outcomeOf?: (result: T) => string): Promise<T>;
}

const PUBLIC = new Set(['/console/login']);

/** Registers the console's routes on the ops API (under /console). */
export function registerConsole(app: FastifyInstance, deps: ConsoleDeps): void {
  void app.register(async (scope) => {
    await scope.register(cookie);
    await scope.register(formbody, { bodyLimit: 300 * 1024 });
    scope.decorateRequest('consoleSession', undefined);

    scope.addHook('onRequest', async (req, reply) => {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        const refusal = crossSiteRefusal(req);
        if (refusal) return refuse(reply, 403, `Refused: a cross-site request (${refusal}).`);
      }
      if (PUBLIC.has(req.routeOptions.url ?? '')) return;
      const session = deps.keys.read(req.cookies[SESSION_COOKIE]);
      if (!session) {
        if (req.method === 'GET') return reply.redirect('/console/login', 303);
        return refuse(reply, 401, 'Refused: log in first.');
      }
      req.consoleSession = session;
    });
    // After the body is parsed: every form but the login's carries the session's token.
    scope.addHook('preHandler', async (req, reply) => {
      if (req.method === 'GET' || req.method === 'HEAD' || !req.consoleSession) return;
      if (!csrfTokenMatches(req.consoleSession, (req.body as Record<string, unknown> | undefined)?._csrf)) {
        return refuse(reply, 403, 'Refused: the form is not from this session (CSRF token missing or wrong). Reload the page and try again.');
      }
    });

    scope.setErrorHandler(async (error, req, reply) => {
      const status = errorStatus(error);
      if (status >= 500) deps.log.error({ err: error }, 'console request failed');
      const known = error instanceof PullerError;
      // Back to the stream an action was about, when it was about one.
      const { connector, stream } = (req.params ?? {}) as { connector?: string; stream?: string };
      return sendPage(reply, { title: 'Error', session: req.consoleSession }, '@error', {
        code: known ? error.code : undefined, advice: known ? error.advice : undefined,
        message: known || status < 500 ? scrubSecrets((error as Error).message) : 'internal error; see the server log',
        back: connector && stream ? streamPath(connector, stream) : undefined,
      }, status);
    });

    const ctx: ConsoleContext = {
      ...deps,
      async act(req, what, run, outcomeOf) {
        const operator = req.consoleSession!.operator;
        // In the store for the stream page, and in the log for whoever reads the logs.
        const record = async (outcome: string) => {
          await recordAction(deps.db, { ...what, operator, outcome });
          deps.log.info({ operator, connector: what.connector, stream: what.stream, action: what.action, outcome }, 'operator action');
        };
        try {
          const result = await run();
          await record(outcomeOf?.(result) ?? 'ok');
          return result;
        } catch (error) {
          await record(error instanceof PullerError ? error.code : 'RP_UNEXPECTED');
          throw error;
        }
      },
    };
    registerLogin(scope, ctx);
    registerOverview(scope, ctx);
    registerStreamPage(scope, ctx);
    registerStreamActions(scope, ctx);
    registerConnectorPage(scope, ctx);
  }, { prefix: '/console' });
}

function refuse(reply: FastifyReply, status: number, message: string): FastifyReply {
  return sendPage(reply, { title: 'Refused' }, '@error', { message, login: true }, status);
}
