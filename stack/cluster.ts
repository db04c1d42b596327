import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

/**
 * The ECS cluster, with both Fargate capacity providers registered so services and tasks can
 * choose Spot or on-demand. Container Insights stays off: it bills its metrics as custom
 * metrics (several dollars a month for two services); the running-task alarms use the free
 * AWS/ECS metrics instead (see FargateService).
 */
export interface ClusterArgs {
  /** The physical cluster name, e.g. ops-pipeline-dev (opsctl finds it in the stack outputs). */
  clusterName: string;
}

export class Cluster extends pulumi.ComponentResource {
  readonly cluster: aws.ecs.Cluster;

  constructor(name: string, args: ClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ops-pipeline:stack:Cluster", name, {}, opts);
    this.cluster = new aws.ecs.Cluster(
      `${name}-cluster`,
      { name: args.clusterName, settings: [{ name: "containerInsights", value: "disabled" }] },
      { parent: this },
    );
    new aws.ecs.ClusterCapacityProviders(
      `${name}-capacity`,
      { clusterName: this.cluster.name, capacityProviders: ["FARGATE", "FARGATE_SPOT"] },
      { parent: this },
    );
    this.registerOutputs({ clusterName: this.cluster.name, clusterArn: this.cluster.arn });
  }
}
