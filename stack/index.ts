// The Pulumi program (Pulumi.yaml `main`). Reads the stack's config, bundles the Lambda
// handlers (unless `lambdaCodeDir` points at bundles made elsewhere), builds the topology and
// exports what opsctl needs. Runs under Node with `--import tsx` (see Pulumi.yaml).
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as pulumi from "@pulumi/pulumi";
import { bundleLambdas } from "../scripts/bundle-lambdas.ts";
import { parseStackConfig } from "./config.ts";
import { sourceImageTag } from "./container-image.ts";
import { OPS_API_STAGE } from "./ops-api-function.ts";
import { OpsStack } from "./ops-stack.ts";
import { LAMBDAS } from "./plan.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const projectConfig = new pulumi.Config();
const awsConfig = new pulumi.Config("aws");
const config = parseStackConfig(pulumi.getStack(), (key) =>
  key === "region" ? awsConfig.get("region") : projectConfig.get(key),
);

let codeDir = config.lambdaCodeDir ? path.resolve(root, config.lambdaCodeDir) : undefined;
if (!codeDir) {
  const bundles = await bundleLambdas([...LAMBDAS.map((lambda) => lambda.stage), OPS_API_STAGE], { root });
  for (const bundle of bundles)
    pulumi.log.info(`bundled ${bundle.stage}: ${(bundle.bytes / 1024).toFixed(0)} KiB`);
  codeDir = path.join(root, "dist", "lambda");
}
const lambdaRoot = codeDir;

const stack = new OpsStack(`ops-${config.stack}`, {
  config,
  repositoryRoot: root,
  // Only needed when the stack builds its images (appImage/workerImage unset).
  imageTag: config.appImage && config.workerImage ? "prebuilt" : sourceImageTag(root),
  lambdaCode: (stage) => new pulumi.asset.FileArchive(path.join(lambdaRoot, stage)),
});

export const region = stack.outputs.region;
export const clusterName = stack.outputs.clusterName;
export const clusterArn = stack.outputs.clusterArn;
export const migratorTaskDefinitionArn = stack.outputs.migratorTaskDefinitionArn;
export const backupTaskDefinitionArn = stack.outputs.backupTaskDefinitionArn;
export const privateSubnetIds = stack.outputs.privateSubnetIds;
export const appSecurityGroupId = stack.outputs.appSecurityGroupId;
export const paramPrefix = stack.outputs.paramPrefix;
export const backupBucket = stack.outputs.backupBucket;
export const databaseSecretArn = stack.outputs.databaseSecretArn;
export const alpacaKeyIdSecretArn = stack.outputs.alpacaKeyIdSecretArn;
export const alpacaSecretKeySecretArn = stack.outputs.alpacaSecretKeySecretArn;
export const databaseEndpoint = stack.outputs.databaseEndpoint;
export const alertTopicArn = stack.outputs.alertTopicArn;
export const functionNames = stack.outputs.functionNames;
export const serviceNames = stack.outputs.serviceNames;
export const logGroupNames = stack.outputs.logGroupNames;
export const opsApiFunctionName = stack.outputs.opsApiFunctionName;
export const opsApiUrl = stack.outputs.opsApiUrl;
export const logGroupPrefix = stack.outputs.logGroupPrefix;
export const operatorPolicyArn = stack.outputs.operatorPolicyArn;
export const ecsSubnets = stack.outputs.ecsSubnets;
export const ecsSecurityGroups = stack.outputs.ecsSecurityGroups;
