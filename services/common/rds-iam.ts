import { createHash, createHmac } from "node:crypto";
import type {
  AwsCredentialIdentity,
  AwsCredentialIdentityProvider,
  Checksum,
  SourceData,
} from "@smithy/types";
import type { Clock } from "./clock.ts";

/**
 * IAM database authentication for RDS (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.IAMDBAuth.html):
 * the password is a SigV4-presigned `connect` request for one database user, valid 15 minutes,
 * so no stage holds a stored password and each may connect only as the user its IAM role names
 * (`rds-db:connect` on that user's ARN). What @aws-sdk/rds-signer computes, done with
 * @smithy/signature-v4 (already installed under the AWS SDK) so no new package is needed.
 */

/** AWS signs these tokens for at most 15 minutes; RDS checks it only when a connection opens. */
export const RDS_TOKEN_LIFETIME_SECONDS = 900;
/** A token is reused this long, well inside its lifetime, so a burst of new connections signs once. */
export const RDS_TOKEN_REUSE_MS = 10 * 60_000;

export interface RdsIamEndpoint {
  readonly host: string;
  readonly port: number;
  readonly dbname: string;
  /** CA bundle file: with it the URL verifies the server (verify-full), for libpq's pg_dump too. */
  readonly sslRootCert?: string;
}

export interface RdsTokenRequest {
  readonly host: string;
  readonly port: number;
  /** The PostgreSQL role (granted rds_iam) the token logs in as. */
  readonly user: string;
  readonly region: string;
  readonly credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  readonly now: Date;
}

/** SHA-256 (and HMAC-SHA-256 when given a key) in the shape SignatureV4 takes, from node:crypto. */
export class NodeSha256 implements Checksum {
  private hash;
  constructor(private readonly secret?: SourceData) {
    this.hash = this.fresh();
  }
  private fresh() {
    return this.secret === undefined ? createHash("sha256") : createHmac("sha256", toBuffer(this.secret));
  }
  update(data: Uint8Array): void {
    this.hash.update(data);
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
  reset(): void {
    this.hash = this.fresh();
  }
}

function toBuffer(data: SourceData): Buffer {
  if (typeof data === "string") return Buffer.from(data, "utf8");
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}

/**
 * The auth token: `host:port/?Action=connect&DBUser=…&X-Amz-…` (no scheme, as RDS expects it in
 * the password field).
 */
export async function rdsAuthToken(request: RdsTokenRequest): Promise<string> {
  const { SignatureV4 } = await import("@smithy/signature-v4");
  const signer = new SignatureV4({
    service: "rds-db",
    region: request.region,
    credentials: request.credentials,
    sha256: NodeSha256,
    uriEscapePath: true,
  });
  const presigned = await signer.presign(
    {
      method: "GET",
      protocol: "https:",
      hostname: request.host,
      port: request.port,
      path: "/",
      query: { Action: "connect", DBUser: request.user },
      headers: { host: `${request.host}:${request.port}` },
    },
    { expiresIn: RDS_TOKEN_LIFETIME_SECONDS, signingDate: request.now },
  );
  const query = Object.entries(presigned.query ?? {})
    .flatMap(([key, value]) =>
      (Array.isArray(value) ? value : [value]).map(
        (one) => `${encodeURIComponent(key)}=${encodeURIComponent(String(one))}`,
      ),
    )
    .join("&");
  return `${request.host}:${request.port}/?${query}`;
}

/**
 * A password function for the pool (slonik calls it for every new connection): a token signed
 * with the process's role credentials, reused for RDS_TOKEN_REUSE_MS.
 */
export function rdsIamPassword(
  options: Omit<RdsTokenRequest, "now"> & { readonly clock: Clock },
): () => Promise<string> {
  let cached: { token: string; signedAtMs: number } | undefined;
  return async () => {
    const now = options.clock.now();
    if (cached && now.getTime() - cached.signedAtMs < RDS_TOKEN_REUSE_MS) return cached.token;
    const token = await rdsAuthToken({ ...options, now });
    cached = { token, signedAtMs: now.getTime() };
    return token;
  };
}

/**
 * The connection URL for IAM auth: the role as user, no password (the pool's function gives it),
 * TLS required, verified against `sslRootCert` when given.
 */
export function rdsIamDatabaseUrl(endpoint: RdsIamEndpoint, user: string): string {
  const url = new URL(`postgres://${endpoint.host}`);
  url.username = encodeURIComponent(user);
  url.port = String(endpoint.port);
  url.pathname = `/${endpoint.dbname}`;
  // slonik's DSN parser takes only disable/no-verify/require; `require` with a root certificate
  // makes it verify the chain and the host name (node's TLS default). pg_dump (libpq) reads the
  // same URL as verify-ca: the backup raises it to verify-full (libpqVerifyFull).
  url.searchParams.set("sslmode", "require");
  if (endpoint.sslRootCert) url.searchParams.set("sslrootcert", endpoint.sslRootCert);
  return url.toString();
}

/** The same URL for libpq tools (pg_dump): with a root certificate, verify-full instead of require. */
export function libpqVerifyFull(url: string): string {
  const parsed = new URL(url);
  if (parsed.searchParams.get("sslrootcert")) parsed.searchParams.set("sslmode", "verify-full");
  return parsed.toString();
}

/** The default AWS credential chain (Lambda and ECS task roles), loaded only on AWS. */
export async function defaultAwsCredentials(): Promise<AwsCredentialIdentityProvider> {
  const { defaultProvider } = await import("@aws-sdk/credential-provider-node");
  return defaultProvider();
}
