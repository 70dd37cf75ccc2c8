// The webhook's HTTPS server: POST /mutate takes an AdmissionReview v1 and answers
// one. Malformed requests get a 4xx with a clear message; certificates are
// swapped in place when the certificate source renews them; with a client CA,
// only clients presenting a certificate it signed (the API server) are served.
import Fastify, { type FastifyError, LogController } from 'fastify';
import type { Logger } from 'pino';
import type { Metrics } from '../telemetry/metrics.ts';
import type { CertificateSource } from '../tls/certificate-source.ts';
import type { TLSSocket } from 'node:tls';
import {
  applyConnectionLimits,
  closeWithin,
  type ConnectionLimits,
  countRequests,
  listeningPort,
  NO_SCHEMAS,
  type RunningServer,
} from '../http/server.ts';
import type { ClientAuthority } from '../tls/client-ca.ts';
import type { AdmissionHandler } from './handler.ts';
import { BadReviewError, parseAdmissionReview, reviewResponse } from './review.ts';

export const MUTATE_PATH = '/mutate';

/** Above the apiserver's own request size limit (3 MiB object, sent twice on UPDATE). */
const BODY_LIMIT_BYTES = 7 * 1024 * 1024;
/** On shutdown, how long requests in flight may take to finish. */
const CLOSE_GRACE_MS = 5_000;

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  maxConnections: 256,
  // The API server keeps a few connections per replica; a pod over this many is refusing itself.
  maxConnectionsPerClient: 32,
  // A TLS handshake on a cluster network takes milliseconds.
  handshakeTimeoutMs: 3_000,
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
  /** Require a client certificate signed by this CA (and with one of its accepted names). */
  clientAuthority?: ClientAuthority;
}

export async function startWebhookServer(options: WebhookServerOptions): Promise<RunningServer> {
  const { certificates, handler, logger, metrics, clientAuthority } = options;
  const limits = options.limits ?? DEFAULT_CONNECTION_LIMITS;
  const secureContext = (): { cert: string; key: string; ca?: string } => {
    const { certificate, privateKey } = certificates.current();
    return { cert: certificate, key: privateKey, ...(clientAuthority ? { ca: clientAuthority.pem } : {}) };
  };
  const server = Fastify({
    https: {
      ...secureContext(),
      handshakeTimeout: limits.handshakeTimeoutMs,
      // Without a verified certificate the handshake fails: nothing of confighash is reached.
      ...(clientAuthority ? { requestCert: true, rejectUnauthorized: true } : {}),
    },
    loggerInstance: logger.child({ component: 'webhook-server' }),
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT_BYTES,
    return503OnClosing: true,
    schemaController: NO_SCHEMAS,
  });
  applyConnectionLimits(server.server, limits);
  const inFlight = countRequests(server.server);
  // AdmissionReviews are JSON; anything else is answered 415.
  server.removeContentTypeParser('text/plain');
  certificates.onChange(() => {
    server.server.setSecureContext(secureContext());
    logger.info('serving renewed webhook certificate');
  });
  clientAuthority?.onChange(() => {
    server.server.setSecureContext(secureContext());
  });
  if (clientAuthority) {
    server.addHook('onRequest', async (request, reply) => {
      const refusal = clientAuthority.refusal((request.raw.socket as TLSSocket).getPeerCertificate());
      if (refusal) await reply.code(403).send({ error: 'Forbidden', message: refusal });
    });
  }

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
    reply.code(404).send({
      error: 'Not Found',
      message: `POST ${MUTATE_PATH} is the only endpoint; got ${request.method} ${request.url}`,
    }),
  );

  await server.listen({ host: options.host, port: options.port });
  return { port: listeningPort(server.server.address()), close: () => closeWithin(server, CLOSE_GRACE_MS, inFlight) };
}

function statusText(status: number): string {
  const texts: Record<number, string> = {
    400: 'Bad Request',
    413: 'Payload Too Large',
    415: 'Unsupported Media Type',
  };
  return texts[status] ?? (status >= 500 ? 'Internal Server Error' : 'Request Error');
}
