import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { PARAM_KEYS, PARAMETERS, type ParamKey } from "../services/common/params/definitions.ts";

/**
 * One SSM String parameter per run-time parameter, under `/ops-pipeline/<stack>/<key>`, created
 * with the defaults of services/common/params/definitions.ts (dry-run true). Operators change
 * them at run time (opsctl dry-run off, kill-switch); `ignoreChanges: ["value"]` keeps those
 * changes through every later `pulumi up`.
 */
export interface RuntimeParametersArgs {
  /** e.g. /ops-pipeline/dev: no trailing slash. */
  prefix: string;
}

export class RuntimeParameters extends pulumi.ComponentResource {
  readonly prefix: string;
  readonly parameters: Record<ParamKey, aws.ssm.Parameter>;

  constructor(name: string, args: RuntimeParametersArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ops-pipeline:stack:RuntimeParameters", name, {}, opts);
    if (!/^\/[A-Za-z0-9_.\-/]+[^/]$/.test(args.prefix)) {
      throw new Error(`parameter prefix must start with / and not end with /, got ${args.prefix}`);
    }
    this.prefix = args.prefix;
    const parameters: Partial<Record<ParamKey, aws.ssm.Parameter>> = {};
    for (const key of PARAM_KEYS) {
      parameters[key] = new aws.ssm.Parameter(
        `${name}-${key}`,
        {
          name: `${args.prefix}/${key}`,
          type: "String",
          tier: "Standard",
          value: JSON.stringify(PARAMETERS[key].default),
          description: PARAMETERS[key].doc.slice(0, 1024),
        },
        { parent: this, ignoreChanges: ["value"] },
      );
    }
    this.parameters = parameters as Record<ParamKey, aws.ssm.Parameter>;
    this.registerOutputs({ prefix: args.prefix });
  }
}
