import type { Config } from "../common/config.ts";
import { envSecrets, type SecretsProvider } from "../common/secrets.ts";

/**
 * Adapter-level: where the dispatcher's broker keys come from. Locally the environment (a
 * `.env` loaded by the CLI); on AWS Secrets Manager, loaded lazily so the local runtime never
 * pays for the SDK.
 */
export function secretsForTarget(env: Readonly<Record<string, string | undefined>>) {
  return (config: Config): SecretsProvider => {
    if (config.target !== "aws") return envSecrets(env);
    let loaded: Promise<SecretsProvider> | undefined;
    const load = () => {
      loaded ??= Promise.all([
        import("@aws-sdk/client-secrets-manager"),
        import("../common/secrets.ts"),
      ]).then(([{ SecretsManagerClient }, { secretsManagerSecrets }]) =>
        secretsManagerSecrets(new SecretsManagerClient({ region: config.aws.region })),
      );
      return loaded;
    };
    return { kind: "secrets-manager", get: async (name) => (await load()).get(name) };
  };
}
