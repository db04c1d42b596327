import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

/**
 * Where every alarm and alert goes: one SNS topic with an e-mail subscription (AWS mails a
 * confirmation link first; nothing arrives until it is clicked), a monthly cost budget with
 * actual and forecast notifications, and the EstimatedCharges billing alarm, which exists only
 * in us-east-1 (hence a provider for that region and, elsewhere, a topic there too).
 */
export interface AlertsArgs {
  /** The address subscribed to the topic and to the budget's notifications. */
  email: string;
  /** The monthly budget in USD: the budget's limit and the billing alarm's threshold. */
  monthlyBudgetUsd: number;
  /** The stack's region: when not us-east-1, the billing alarm gets its own topic there. */
  region: string;
  /** Account id, to scope the topic policy to this account's budgets and alarms. */
  accountId: pulumi.Input<string>;
}

export class Alerts extends pulumi.ComponentResource {
  readonly topic: aws.sns.Topic;
  readonly budget: aws.budgets.Budget;
  readonly billingAlarm: aws.cloudwatch.MetricAlarm;

  constructor(name: string, args: AlertsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ops-pipeline:stack:Alerts", name, {}, opts);
    const parent = { parent: this };
    this.topic = this.createTopic(name, args, parent);

    this.budget = new aws.budgets.Budget(
      `${name}-budget`,
      {
        budgetType: "COST",
        limitAmount: args.monthlyBudgetUsd.toFixed(2),
        limitUnit: "USD",
        timeUnit: "MONTHLY",
        notifications: [
          {
            notificationType: "ACTUAL",
            comparisonOperator: "GREATER_THAN",
            threshold: 80,
            thresholdType: "PERCENTAGE",
            subscriberEmailAddresses: [args.email],
            subscriberSnsTopicArns: [this.topic.arn],
          },
          {
            notificationType: "FORECASTED",
            comparisonOperator: "GREATER_THAN",
            threshold: 100,
            thresholdType: "PERCENTAGE",
            subscriberEmailAddresses: [args.email],
            subscriberSnsTopicArns: [this.topic.arn],
          },
        ],
      },
      parent,
    );

    // Billing metrics are published only in us-east-1, and only once "Receive Billing Alerts"
    // is enabled in the account's billing preferences (docs/deploy.md).
    const usEast1 = new aws.Provider(`${name}-us-east-1`, { region: "us-east-1" }, parent);
    const billingTopic =
      args.region === "us-east-1"
        ? this.topic
        : this.createTopic(`${name}-billing`, args, { parent: this, provider: usEast1 });
    this.billingAlarm = new aws.cloudwatch.MetricAlarm(
      `${name}-billing`,
      {
        alarmDescription: `Estimated charges this month above the $${args.monthlyBudgetUsd} budget`,
        namespace: "AWS/Billing",
        metricName: "EstimatedCharges",
        dimensions: { Currency: "USD" },
        statistic: "Maximum",
        period: 21_600,
        evaluationPeriods: 1,
        comparisonOperator: "GreaterThanThreshold",
        threshold: args.monthlyBudgetUsd,
        treatMissingData: "notBreaching",
        alarmActions: [billingTopic.arn],
      },
      { parent: this, provider: usEast1 },
    );
    this.registerOutputs({ topicArn: this.topic.arn });
  }

  private createTopic(name: string, args: AlertsArgs, opts: pulumi.CustomResourceOptions): aws.sns.Topic {
    // Not KMS-encrypted: Budgets and CloudWatch can publish to an encrypted topic only with a
    // customer-managed key ($1/month) whose policy grants them; alerts carry no secrets.
    const topic = new aws.sns.Topic(`${name}-topic`, {}, opts);
    new aws.sns.TopicSubscription(
      `${name}-email`,
      { topic: topic.arn, protocol: "email", endpoint: args.email },
      opts,
    );
    new aws.sns.TopicPolicy(
      `${name}-topic-policy`,
      {
        arn: topic.arn,
        policy: pulumi.jsonStringify({
          Version: "2012-10-17",
          Statement: [
            {
              Sid: "AlarmsAndBudgetsPublish",
              Effect: "Allow",
              Principal: { Service: ["cloudwatch.amazonaws.com", "budgets.amazonaws.com"] },
              Action: "SNS:Publish",
              Resource: topic.arn,
              Condition: { StringEquals: { "aws:SourceAccount": args.accountId } },
            },
          ],
        }),
      },
      opts,
    );
    return topic;
  }
}
