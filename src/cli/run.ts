// `confighash run`: wires the parts together (logger, metrics, Kubernetes
// clients, Events, HMAC key, namespace scope, TLS, webhook and its configuration,
// controller, leader election, observability) and runs until SIGTERM.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { HmacKeyring, ValueHasher } from '../checksum/index.ts';
import { loadKubeConfig } from '../kube/client.ts';
import { Controller } from '../controller/controller.ts';
import { SourceStore } from '../sources/store.ts';
import { apiCronJobRunner } from '../workloads/cronjob-runner.ts';
import { apiEventApi, EventRecorder } from '../kube/events.ts';
import { KeyCustodian, loadOrCreateKeys } from '../keys/hmac-key.ts';
import { apiSecretStore, type SecretStore } from '../kube/secrets.ts';
import { apiLeaseClient, LeaderElector } from '../kube/leader-election.ts';
import { LiveSourceReader, sourcesChangedAt } from '../sources/reader.ts';
import { apiAgentStatusReader } from '../workloads/agent-status.ts';
import { apiListWatchClient, type ListWatchClient } from '../kube/watcher.ts';
import { WorkloadPatcher } from '../workloads/patcher.ts';
import { PatchesInFlight } from '../workloads/patches-in-flight.ts';
import { createLogger, type Logger } from '../telemetry/log.ts';
import { startMetricsServer } from '../telemetry/metrics-server.ts';
import { Metrics } from '../telemetry/metrics.ts';
import type { RunningServer } from '../http/server.ts';
import { jitter, sleep } from '../time/sleep.ts';
import type { CertificateSource } from '../tls/certificate-source.ts';
import { FileCertificates } from '../tls/file-source.ts';
import { ClientAuthority } from '../tls/client-ca.ts';
import { SelfManagedCertificates } from '../tls/self-managed.ts';
import { AdmissionScope, apiNamespaceRead } from '../scope/admission-scope.ts';
import { NamespaceScope } from '../scope/namespace-scope.ts';
import { HttpApprover } from '../policy/approval.ts';
import { Notifier } from '../notify/notifier.ts';
import { NotificationSettingsWatcher } from '../notify/settings-watcher.ts';
import { POLICY_ANNOTATION } from '../policy/gate.ts';
import { AdmissionHandler } from '../webhook/handler.ts';
import { type WebhookRegistration, WebhookConfigurationKeeper } from '../webhook/registration.ts';
import { startWebhookServer } from '../webhook/server.ts';
import type { RunOptions } from './run-options.ts';

/** Promotion delay of a next CA: ample time for every apiserver to load the new bundle. */
const CA_PROMOTION_DELAY_MS = 10 * 60_000;
/** List and watch requests: a list page of large Secrets can take a while. */
const LIST_TIMEOUT_MS = 60_000;
const TLS_RETRY_MS = { initial: 1000, max: 60_000 };
/** How often the agents of a reload under way are asked how far it got. */
const RELOAD_POLL_MS = 3_000;
/** How long a stopping leader lets its notifications drain (its successor waits as long for the lease). */
const NOTIFICATIONS_DRAIN_MS = 5_000;
/** How long a new leader waits for the notification settings before reconciling regardless. */
const NOTIFICATIONS_SYNC_MS = 10_000;
/** The share of the webhook's timeoutSeconds its live reads may take. */
const ADMISSION_DEADLINE_SHARE = 0.8;
// Admissions into a namespace the Namespace watch has not yet seen opt in read it
// live (once for all the admissions waiting on it): a script that creates and
// fills namespaces at once is the burst; a direct caller naming namespace after
// namespace gets no more than the rate.
const LATE_NAMESPACE_READS_PER_SECOND = 5;
const LATE_NAMESPACE_READ_BURST = 20;

export async function run(options: RunOptions): Promise<void> {
  const logger = createLogger(options.logLevel);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const metrics = new Metrics(registry);

  const kubeConfig = loadKubeConfig(options.kubeconfig);
  const secrets = apiSecretStore(kubeConfig);
  const listWatch = apiListWatchClient(kubeConfig, LIST_TIMEOUT_MS);
  const events = new EventRecorder({
    api: apiEventApi(kubeConfig),
    logger: logger.child({ component: 'events' }),
    metrics,
  });
  logger.info({ server: kubeConfig.getCurrentCluster()?.server, namespace: options.namespace }, 'starting confighash');

  const { material: keys, installedAt } = await loadOrCreateKeys(secrets, options.namespace);
  const keyring = new HmacKeyring(keys);
  const custodian = new KeyCustodian({
    secrets,
    listWatch,
    namespace: options.namespace,
    keyring,
    events,
    logger: logger.child({ component: 'hmac-key' }),
    metrics,
  });
  custodian.start(keys);
  const hasher = new ValueHasher(keyring);
  const sourceFilter = { selector: options.resourceLabelSelector, reloaderAnnotations: options.reloaderAnnotations };
  const excludedNamespaces = new Set([options.namespace, 'kube-system', ...options.ignoreNamespaces]);
  const sources = new SourceStore(hasher, excludedNamespaces, sourceFilter);
  const reader = new LiveSourceReader(kubeConfig, hasher, {
    concurrency: options.sourceReadConcurrency,
    timeoutMs: options.sourceReadTimeoutMs,
    filter: sourceFilter,
    known: sources,
  });
  const scope = new NamespaceScope({
    excluded: excludedNamespaces,
    selector: options.namespaceSelector,
    reloaderWorkloads: options.reloaderAnnotations,
    reloaderSelector: options.reloaderNamespaceSelector,
    // A namespace's rollout policies are its workloads' defaults.
    defaultKeys: [POLICY_ANNOTATION.window, POLICY_ANNOTATION.timeZone, POLICY_ANNOTATION.minInterval],
    ...(options.watchNamespaces.length > 0 ? { watchNamespaces: options.watchNamespaces } : {}),
  });
  // Answered well inside the API server's own timeout, or it fails open without a word.
  const deadlineMs = options.webhookTimeoutSeconds * 1000 * ADMISSION_DEADLINE_SHARE;
  // The controller's own stamps, which the webhook then admits without reading their sources again.
  const ownPatches = new PatchesInFlight();
  const handler = new AdmissionHandler({
    reader,
    hasher,
    logger,
    metrics,
    scope: new AdmissionScope({
      scope,
      // Half the deadline at most: the sources are still to be read after it.
      read: apiNamespaceRead(kubeConfig, Math.min(options.sourceReadTimeoutMs, deadlineMs / 2)),
      logger,
      ratePerSecond: LATE_NAMESPACE_READS_PER_SECOND,
      burst: LATE_NAMESPACE_READ_BURST,
    }),
    deadlineMs,
    ownPatches,
    reloaderAnnotations: options.reloaderAnnotations,
    ...optionalAgentImage(options),
  });
  const notifier = new Notifier({ metrics, logger: logger.child({ component: 'notifications' }) });
  const notificationSettings = new NotificationSettingsWatcher({
    listWatch,
    namespace: options.namespace,
    notifier,
    events,
    logger: logger.child({ component: 'notifications' }),
  });
  const controller = new Controller({
    listWatch,
    patcher: new WorkloadPatcher(kubeConfig, ownPatches),
    events,
    notices: notifier,
    jobs: apiCronJobRunner(kubeConfig),
    reader,
    sources,
    ...(reloadAgentImage(options)
      ? {
          reloadStatus: {
            agents: apiAgentStatusReader(kubeConfig),
            changedAt: (record) =>
              sourcesChangedAt(kubeConfig, record.namespace, record.reload?.sources ?? [], options.sourceReadTimeoutMs),
            pollMs: RELOAD_POLL_MS,
            deadlineMs: options.reloadTimeoutMs,
          },
        }
      : {}),
    hasher,
    scope,
    sourceFilter,
    coalesceWindowMs: options.coalesceWindowMs,
    installedAt,
    waitForRollout: options.waitForRollout,
    progressDeadlineMs: options.progressDeadlineMs,
    ...(options.approvalUrl
      ? {
          approver: new HttpApprover({
            url: options.approvalUrl,
            timeoutMs: options.approvalTimeoutMs,
            failurePolicy: options.approvalFailurePolicy,
            logger: logger.child({ component: 'approval' }),
          }),
        }
      : {}),
    rolloutRatePerSecond: options.rolloutRate,
    rolloutBurst: options.rolloutBurst,
    workers: options.workers,
    relistIntervalMs: options.relistIntervalMs,
    logger,
    metrics,
  });
  controller.start();

  const keeper = new WebhookConfigurationKeeper({
    config: kubeConfig,
    listWatch,
    registration: webhookRegistration(options, scope),
    events,
    logger: logger.child({ component: 'webhook-configuration' }),
    metrics,
  });
  keeper.start();
  const certificates = certificateSource(options, { secrets, listWatch, events, logger, metrics }, (bundle) =>
    keeper.publish(bundle),
  );
  const clientAuthority = options.clientCaFile
    ? new ClientAuthority({
        file: options.clientCaFile,
        names: options.clientNames,
        pollIntervalMs: options.tlsCheckIntervalMs,
        logger,
      })
    : undefined;
  const stopping = new AbortController();
  let webhook: RunningServer | undefined;
  // Ready means "the webhook can serve": what the controller's watches are doing
  // does not decide whether admissions reach this replica.
  const observability = await startMetricsServer({
    host: options.bindAddress,
    port: options.metricsPort,
    registry,
    logger,
    readiness: {
      webhook: () => (webhook ? undefined : 'not serving yet (waiting for its certificate)'),
      certificates: () => (webhook && !certificates.healthy() ? 'no valid serving certificate' : undefined),
      // The webhook answers only for namespaces in scope: it must know them first (once; later watch trouble keeps the last list).
      namespaces: () => (scope.synced ? undefined : 'namespaces not listed yet'),
    },
    information: { controller: () => controller.problem() },
    observedVersion: (key) => controller.observedVersion(key),
  });

  // Nothing in the TLS path keeps the controller from running.
  const elector = options.leaderElect ? leaderElector(options, kubeConfig, logger) : undefined;
  void lead(elector, logger).then(async (leading) => {
    if (!leading) return;
    metrics.leader.set(1);
    // Only the leader notifies; it knows where to before it decides anything (unless the Secret cannot be read).
    notificationSettings.start();
    await Promise.race([notificationSettings.whenSynced(), sleep(NOTIFICATIONS_SYNC_MS, stopping.signal)]);
    await controller.startReconciling(stopping.signal);
  });
  const serving = startTls(certificates, logger, stopping.signal)
    .then(async (started) => {
      if (!started) return;
      await clientAuthority?.start();
      webhook = await startWebhookServer({
        host: options.bindAddress,
        port: options.webhookPort,
        certificates,
        handler,
        logger,
        metrics,
        ...(clientAuthority ? { clientAuthority } : {}),
      });
      logger.info({ webhookPort: webhook.port, metricsPort: observability.port }, 'confighash is serving');
    })
    .catch((error: unknown) => {
      logger.fatal(
        { err: error instanceof Error ? error.message : String(error) },
        'could not start the webhook server; exiting',
      );
      process.exit(1);
    });

  await shutdownSignal(logger);
  const t0 = Date.now();
  stopping.abort();
  certificates.stop();
  clientAuthority?.stop();
  await Promise.all([controller.stop(), custodian.stop(), keeper.stop(), notificationSettings.stop(), serving]);
  // Before the lease is released: what the leader decided is told by it, or not at all.
  await Promise.all([notifier.stop(NOTIFICATIONS_DRAIN_MS), events.stop()]);
  const t1 = Date.now();
  await elector?.stop();
  const t2 = Date.now();
  await Promise.all([webhook?.close(), observability.close()]);
  logger.info({ controllerMs: t1 - t0, electorMs: t2 - t1, serversMs: Date.now() - t2 }, 'stopped');
}

/** Starts the certificate source, retrying with backoff until it works or confighash stops; false if stopped. */
async function startTls(certificates: CertificateSource, logger: Logger, signal: AbortSignal): Promise<boolean> {
  let retryMs = TLS_RETRY_MS.initial;
  while (!signal.aborted) {
    try {
      await certificates.start();
      return true;
    } catch (error) {
      logger.error(
        { err: error instanceof Error ? error.message : String(error), retryInMs: retryMs },
        'could not set up the webhook certificate; the webhook waits, the controller runs',
      );
      await sleep(jitter(retryMs, 0.2), signal);
      retryMs = Math.min(retryMs * 2, TLS_RETRY_MS.max);
    }
  }
  return false;
}

function leaderElector(options: RunOptions, config: ReturnType<typeof loadKubeConfig>, logger: Logger): LeaderElector {
  return new LeaderElector({
    leases: apiLeaseClient(config, options.namespace),
    name: 'confighash-controller',
    identity: `${hostname()}_${randomUUID()}`,
    leaseDurationMs: 15_000,
    renewDeadlineMs: 10_000,
    retryPeriodMs: 2_000,
    logger: logger.child({ component: 'leader-election' }),
  });
}

/** Resolves true once this replica may reconcile: at once without leader election. */
function lead(elector: LeaderElector | undefined, logger: Logger): Promise<boolean> {
  if (!elector) return Promise.resolve(true);
  return elector.acquire(() => {
    // As controller-runtime does: a replica that lost its lease exits, and restarts as a follower.
    logger.fatal('lost the leader lease; exiting');
    process.exit(1);
  });
}

function webhookRegistration(options: RunOptions, scope: NamespaceScope): WebhookRegistration {
  const endpoint = options.webhookUrl
    ? { url: options.webhookUrl }
    : { service: { name: options.serviceName, namespace: options.namespace, port: 443 } };
  return { endpoint, namespaceSelector: scope.webhookSelector(), timeoutSeconds: options.webhookTimeoutSeconds };
}

function certificateSource(
  options: RunOptions,
  deps: { secrets: SecretStore; listWatch: ListWatchClient; events: EventRecorder; logger: Logger; metrics: Metrics },
  publishCaBundle: (bundle: string | undefined) => Promise<void>,
): CertificateSource {
  if (options.certDir) {
    const { logger, metrics } = deps;
    return new FileCertificates({
      dir: options.certDir,
      pollIntervalMs: options.tlsCheckIntervalMs,
      logger,
      metrics,
      publishCaBundle,
    });
  }
  return new SelfManagedCertificates({
    ...deps,
    namespace: options.namespace,
    policy: {
      caValidityMs: options.tlsCaValidityMs,
      servingValidityMs: options.tlsCertValidityMs,
      promotionDelayMs: Math.min(CA_PROMOTION_DELAY_MS, options.tlsCaValidityMs / 6),
      expiryMarginMs: 2 * options.tlsCheckIntervalMs,
      ...servingNames(options),
    },
    checkIntervalMs: options.tlsCheckIntervalMs,
    publishCaBundle,
  });
}

/** The names the serving certificate must cover: the URL's host, or the Service's DNS names. */
function servingNames(options: RunOptions): { dnsNames: string[]; ipAddresses: string[] } {
  if (options.webhookUrl) {
    const host = new URL(options.webhookUrl).hostname.replace(/^\[|\]$/g, '');
    const isIp = /^[\d.]+$/.test(host) || host.includes(':');
    return isIp ? { dnsNames: [], ipAddresses: [host] } : { dnsNames: [host], ipAddresses: [] };
  }
  const service = `${options.serviceName}.${options.namespace}`;
  return { dnsNames: [`${service}.svc`, `${service}.svc.cluster.local`, service], ipAddresses: [] };
}

function shutdownSignal(logger: Logger): Promise<void> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      logger.info({ signal }, 'shutting down');
      resolve();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}

/** The agent's image when reload in place is on (--reload-in-place and --agent-image); without it nothing is injected, and no pod is read. */
function reloadAgentImage(options: Pick<RunOptions, 'reloadInPlace' | 'agentImage'>): string | undefined {
  return options.reloadInPlace ? options.agentImage : undefined;
}

function optionalAgentImage(options: Pick<RunOptions, 'reloadInPlace' | 'agentImage'>): { agentImage?: string } {
  const agentImage = reloadAgentImage(options);
  return agentImage ? { agentImage } : {};
}
