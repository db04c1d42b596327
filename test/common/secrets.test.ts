import assert from "node:assert/strict";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { OperatorError } from "../../services/common/errors.ts";
import {
  databaseUrlFromRdsSecret,
  envSecrets,
  SecretUnavailableError,
  secretsManagerSecrets,
} from "../../services/common/secrets.ts";
import { AwsJsonError, FAKE_CREDENTIALS, startAwsJsonServer } from "../helpers/aws-json-server.ts";

describe("secrets providers", () => {
  it("reads secrets from the environment, treating an empty value as unset", async () => {
    const secrets = envSecrets({ ALPACA_API_KEY: "k", EMPTY: "" });
    assert.equal(await secrets.get("ALPACA_API_KEY"), "k");
    assert.equal(await secrets.get("EMPTY"), undefined);
    assert.equal(await secrets.get("MISSING"), undefined);
  });

  it("reads Secrets Manager once per secret, over the real SDK against a local server", async () => {
    const server = await startAwsJsonServer({
      GetSecretValue: (body) => {
        if (body.SecretId === "db")
          return { Name: "db", SecretString: '{"username":"app","password":"p@ss/word"}' };
        if (body.SecretId === "denied") throw new AwsJsonError("AccessDeniedException", "no", 400);
        throw new AwsJsonError("ResourceNotFoundException", "missing");
      },
    });
    try {
      const secrets = secretsManagerSecrets(
        new SecretsManagerClient({
          region: "us-east-1",
          endpoint: server.endpoint,
          credentials: FAKE_CREDENTIALS,
        }),
      );
      assert.match((await secrets.get("db")) ?? "", /username/);
      await secrets.get("db");
      assert.equal(server.requests.filter((r) => r.body.SecretId === "db").length, 1);
      assert.equal(await secrets.get("nope"), undefined);
      await assert.rejects(secrets.get("denied"), SecretUnavailableError);
    } finally {
      await server.close();
    }
  });

  it("builds a TLS-requiring URL from an RDS secret, escaping the password", () => {
    const url = databaseUrlFromRdsSecret(
      JSON.stringify({
        username: "app",
        password: "p@ss/w:rd",
        host: "db.internal",
        port: 5432,
        dbname: "ops",
      }),
    );
    const parsed = new URL(url);
    assert.equal(decodeURIComponent(parsed.password), "p@ss/w:rd");
    assert.equal(parsed.hostname, "db.internal");
    assert.equal(parsed.pathname, "/ops");
    assert.equal(parsed.searchParams.get("sslmode"), "require");
  });

  it("rejects a secret without credentials, saying what shape it needs", () => {
    assert.throws(
      () => databaseUrlFromRdsSecret('{"username":"app"}'),
      (error: unknown) => {
        assert.ok(error instanceof OperatorError);
        assert.match(error.hint ?? "", /username, password, host/);
        return true;
      },
    );
  });
});
