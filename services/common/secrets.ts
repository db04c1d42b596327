import type { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { OperatorError } from "./errors.ts";

/** Where secrets (database credentials, API keys) come from. Values are never logged. */
export interface SecretsProvider {
  readonly kind: "env" | "secrets-manager";
  /**
   * The secret's value, or undefined when it is not set.
   * @throws SecretUnavailableError when the backing service refuses or fails.
   */
  get(name: string): Promise<string | undefined>;
}

export class SecretUnavailableError extends OperatorError {
  override readonly name = "SecretUnavailableError";
  constructor(secret: string, cause: unknown) {
    super("SECRET_UNAVAILABLE", `secret ${secret} could not be read`, {
      hint: "check the secret exists and this role may call secretsmanager:GetSecretValue on it",
      cause,
    });
  }
}

/** Locally: secrets are environment variables (a `.env` file is loaded by the CLI adapter). */
export function envSecrets(env: Readonly<Record<string, string | undefined>>): SecretsProvider {
  return {
    kind: "env",
    async get(name) {
      const value = env[name];
      return value === "" ? undefined : value;
    },
  };
}

/**
 * On AWS: Secrets Manager, each secret read once per process (credentials rotate rarely and a
 * rotation restarts the tasks).
 */
export function secretsManagerSecrets(client: SecretsManagerClient): SecretsProvider {
  const cache = new Map<string, Promise<string | undefined>>();
  return {
    kind: "secrets-manager",
    get(name) {
      let pending = cache.get(name);
      if (!pending) {
        // The SDK module is loaded on first use, so local commands importing this file never pay for it.
        pending = import("@aws-sdk/client-secrets-manager")
          .then(({ GetSecretValueCommand }) => client.send(new GetSecretValueCommand({ SecretId: name })))
          .then((out) => out.SecretString)
          .catch((error: unknown) => {
            cache.delete(name);
            if ((error as { name?: string }).name === "ResourceNotFoundException") return undefined;
            throw new SecretUnavailableError(name, error);
          });
        cache.set(name, pending);
      }
      return pending;
    },
  };
}

/**
 * An RDS credentials secret ({username, password, host, port, dbname}) as a connection URL
 * with TLS required, since RDS here enforces it.
 * @throws OperatorError when the secret is not of that shape.
 */
export function databaseUrlFromRdsSecret(
  secretJson: string,
  fallback: { host?: string; dbname?: string } = {},
): string {
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(secretJson) as Record<string, unknown>;
  } catch (error) {
    throw new OperatorError("SECRET_SHAPE", "database secret is not JSON", { cause: error });
  }
  const username = parsed.username;
  const password = parsed.password;
  const host = parsed.host ?? fallback.host;
  const port = parsed.port ?? 5432;
  const dbname = parsed.dbname ?? fallback.dbname ?? "postgres";
  if (typeof username !== "string" || typeof password !== "string" || typeof host !== "string") {
    throw new OperatorError("SECRET_SHAPE", "database secret lacks username, password or host", {
      hint: "the secret must hold RDS-style JSON: {username, password, host, port, dbname}",
    });
  }
  const url = new URL(`postgres://${host}`);
  url.username = encodeURIComponent(username);
  url.password = encodeURIComponent(password);
  url.port = String(port);
  url.pathname = `/${String(dbname)}`;
  url.searchParams.set("sslmode", "require");
  return url.toString();
}
