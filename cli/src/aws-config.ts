import type { Config } from "../../services/common/config.ts";

/**
 * Region, and the endpoint override for tests and LocalStack, for every AWS SDK client opsctl
 * makes. In a module of its own, without SDK imports, so each command loads only its own client.
 */
export function awsClientConfig(config: Config): {
  region: string | undefined;
  endpoint?: string;
  maxAttempts: number;
} {
  return {
    region: config.aws.region,
    ...(config.opsctl.awsEndpointUrl ? { endpoint: config.opsctl.awsEndpointUrl } : {}),
    // An operator waits at the terminal: fail after 2 attempts rather than the SDK's long backoff.
    maxAttempts: 2,
  };
}
