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
/** Well past the webhook's timeoutSeconds: a request this slow is abandoned, not served. */
const REQUEST_TIMEOUT_MS = 30_000;
/** On shutdown, how long requests in flight may take to finish. */
const CLOSE_GRACE_MS = 5_000;

export interface WebhookServerOptions {
  host: string;
  port: number;
  certificates: CertificateSource;
  handler: AdmissionHandler;
  logger: Logger;
  metrics: Metrics;
}

export async function startWebhookServer(options: WebhookServerOptions): Promise<RunningServer> {
  const { certificates, handler, logger, metrics } = options;
  const { certificate, privateKey } = certificates.current();
  const server = Fastify({
    https: { cert: certificate, key: privateKey },
    loggerInstance: logger.child({ component: 'webhook-server' }),
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT_BYTES,
    requestTimeout: REQUEST_TIMEOUT_MS,
    return503OnClosing: true,
  });
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
    if (status >= 500) {
      logger.error({ err: error.message }, 'webhook request failed');
      metrics.webhookRequests.inc({ result: 'error' });
    } else {
      metrics.webhookRequests.inc({ result: 'rejected' });
    }
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
