// The webhook's HTTPS server: POST /mutate takes an AdmissionReview v1 and answers
// one. Malformed requests get a 4xx with a clear message; certificates are
// swapped in place when the certificate source renews them.
import Fastify, { type FastifyError, LogController } from 'fastify';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.ts';
import type { CertificateSource } from '../tls/certificate-source.ts';
import { closeWithin, listeningPort, type RunningServer } from '../http-server.ts';
import type { AdmissionHandler } from './handler.ts';
import { BadReviewError, parseAdmissionReview, reviewResponse } from './review.ts';

export const MUTATE_PATH = '/mutate';

/** Above the apiserver's own request size limit (3 MiB object, sent twice on UPDATE). */
const BODY_LIMIT_BYTES = 7 * 1024 * 1024;
/** On shutdown, how long requests in flight may take to finish. */
const CLOSE_GRACE_MS = 5_000;

/**
 * What one client may hold of the server. The API servers need few connections
 * (each keeps a handful alive), so the bounds are far above real use and far
 * below what exhausts memory or file descriptors; each phase of a connection
 * has its own deadline, so a client that stalls is dropped, not waited on.
 */
export interface ConnectionLimits {
  /** Connections open at once; more are closed on accept. */
  maxConnections: number;
  /** To complete the TLS handshake. */
  handshakeTimeoutMs: number;
  /** To send the request's headers. */
  headersTimeoutMs: number;
  /** To send the whole request (past the webhook's timeoutSeconds, an answer is useless). */
  requestTimeoutMs: number;
  /** An idle kept-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  maxConnections: 256,
  handshakeTimeoutMs: 10_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 30_000,
};

export interface WebhookServerOptions {
  host: string;
  port: number;
  certificates: CertificateSource;
  handler: AdmissionHandler;
  logger: Logger;
  metrics: Metrics;
  limits?: ConnectionLimits;
}

export async function startWebhookServer(options: WebhookServerOptions): Promise<RunningServer> {
  const { certificates, handler, logger, metrics } = options;
  const { certificate, privateKey } = certificates.current();
  const limits = options.limits ?? DEFAULT_CONNECTION_LIMITS;
  const server = Fastify({
    https: { cert: certificate, key: privateKey, handshakeTimeout: limits.handshakeTimeoutMs },
    loggerInstance: logger.child({ component: 'webhook-server' }),
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT_BYTES,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    return503OnClosing: true,
  });
  server.server.maxConnections = limits.maxConnections;
  server.server.headersTimeout = limits.headersTimeoutMs;
  // How often Node checks the headers and request deadlines.
  Reflect.set(server.server, 'connectionsCheckingInterval', Math.min(1000, limits.headersTimeoutMs / 2));
  // AdmissionReviews are JSON; anything else is answered 415.
  server.removeContentTypeParser('text/plain');
  certificates.onChange(() => {
    const renewed = certificates.current();
    server.server.setSecureContext({ cert: renewed.certificate, key: renewed.privateKey });
    logger.info('serving renewed webhook certificate');
  });

  server.post(MUTATE_PATH, async (request) => {
    const review = parseAdmissionReview(request.body);
    return reviewResponse(await handler.admit(review));
  });

  server.setErrorHandler((error: FastifyError, request, reply) => {
    const status = error instanceof BadReviewError ? 400 : (error.statusCode ?? 500);
    const message =
      status === 415
        ? `content type ${request.headers['content-type'] ?? '(none)'} is not supported: send an AdmissionReview as application/json`
        : error.message;
    // The handler answers every review itself (failing open); what reaches here never reached it.
    if (status >= 500) logger.error({ err: error.message }, 'webhook request failed');
    metrics.webhookRequests.inc({ result: status >= 500 ? 'error' : 'rejected' });
    return reply.code(status).send({ error: statusText(status), message });
  });
  server.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: 'Not Found', message: `POST ${MUTATE_PATH} is the only endpoint; got ${request.method} ${request.url}` }),
  );

  await server.listen({ host: options.host, port: options.port });
  return { port: listeningPort(server.server.address()), close: () => closeWithin(server, CLOSE_GRACE_MS) };
}



function statusText(status: number): string {
  const texts: Record<number, string> = {
    400: 'Bad Request',
    413: 'Payload Too Large',
    415: 'Unsupported Media Type',
  };
  return texts[status] ?? (status >= 500 ? 'Internal Server Error' : 'Request Error');
}
