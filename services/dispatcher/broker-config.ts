import type { DispatcherConfig } from "../common/config.ts";
import type { Logger } from "../common/logger.ts";
import type { SecretsProvider } from "../common/secrets.ts";
import { alpacaBroker, type Broker } from "./executors/alpaca.ts";

/**
 * The broker, when one is configured: a base URL and both keys present in the secrets port.
 * Keys are read here once and handed to the adapter; they are never logged or returned.
 * Null means "no broker": with dry-run off, the dry-run gate then rejects everything.
 * @throws SecretUnavailableError when the secrets backend fails (not when a key is unset).
 */
export async function configuredBroker(
  config: DispatcherConfig,
  secrets: SecretsProvider,
  logger: Logger,
): Promise<Broker | null> {
  const { baseUrl, keyIdSecret, secretKeySecret, timeoutMs } = config.alpaca;
  if (!baseUrl) return null;
  const [keyId, secretKey] = await Promise.all([secrets.get(keyIdSecret), secrets.get(secretKeySecret)]);
  if (!keyId || !secretKey) {
    logger.warn(
      { keyIdSecret, secretKeySecret, keyIdSet: Boolean(keyId), secretKeySet: Boolean(secretKey) },
      "OPS_ALPACA_BASE_URL is set but a key is missing: no broker configured; dry-run off will reject",
    );
    return null;
  }
  return alpacaBroker({ baseUrl, keyId, secretKey, timeoutMs });
}
