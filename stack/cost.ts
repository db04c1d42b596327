import type { StackConfig } from "./config.ts";
import type { StackPlan } from "./plan.ts";
import { stackPlan } from "./plan.ts";

/**
 * The monthly cost of what a stack declares, at us-east-1 on-demand list prices. Pure: it prices
 * a StackPlan, the same object the program builds its resources from.
 *
 * The prices are the public list prices as recorded by the author from the AWS pricing pages
 * named in `source` (figures current in 2025); they were NOT re-checked against the live pages
 * when this was written (no network on the build machine). Fargate Spot is a market price, so it
 * is priced as a band: best case 70 % below on-demand (the deepest discount AWS advertises) and
 * typical 50 % below (what Spot prices often sit at); the typical case is the headline. AWS's
 * permanent ("always free") allowances are a line of their own, so the list price and the
 * expected bill are both visible; 12-month trial allowances are ignored.
 */
export const PRICES_AS_OF = "2025 (us-east-1 list prices; re-check before relying on them)";

export const HOURS_PER_MONTH = 730;

export const PRICES = {
  rdsT4gMicroHour: {
    usd: 0.016,
    source: "https://aws.amazon.com/rds/postgresql/pricing/ (db.t4g.micro, Single-AZ)",
  },
  rdsT4gSmallHour: {
    usd: 0.032,
    source: "https://aws.amazon.com/rds/postgresql/pricing/ (db.t4g.small, Single-AZ)",
  },
  rdsGp3GbMonth: {
    usd: 0.115,
    source: "https://aws.amazon.com/rds/postgresql/pricing/ (gp3 storage, Single-AZ)",
  },
  rdsExtendedSupportVcpuHour: {
    usd: 0.1,
    source: "https://aws.amazon.com/rds/postgresql/pricing/ (Extended Support, years 1-2, per vCPU-hour)",
  },
  ec2T4gNanoHour: { usd: 0.0042, source: "https://aws.amazon.com/ec2/pricing/on-demand/ (t4g.nano Linux)" },
  ec2T4gMicroHour: { usd: 0.0084, source: "https://aws.amazon.com/ec2/pricing/on-demand/ (t4g.micro Linux)" },
  ebsGp3GbMonth: { usd: 0.08, source: "https://aws.amazon.com/ebs/pricing/ (gp3)" },
  publicIpv4Hour: {
    usd: 0.005,
    source: "https://aws.amazon.com/vpc/pricing/ (public IPv4 address, since 2024-02)",
  },
  natGatewayHour: { usd: 0.045, source: "https://aws.amazon.com/vpc/pricing/ (NAT gateway hour)" },
  natGatewayGb: { usd: 0.045, source: "https://aws.amazon.com/vpc/pricing/ (NAT gateway data processed)" },
  interfaceEndpointAzHour: { usd: 0.01, source: "https://aws.amazon.com/privatelink/pricing/ (per AZ)" },
  fargateX86VcpuHour: { usd: 0.04048, source: "https://aws.amazon.com/fargate/pricing/ (Linux/x86)" },
  fargateX86GbHour: { usd: 0.004445, source: "https://aws.amazon.com/fargate/pricing/ (Linux/x86)" },
  fargateArmVcpuHour: { usd: 0.03238, source: "https://aws.amazon.com/fargate/pricing/ (Linux/ARM)" },
  fargateArmGbHour: { usd: 0.00356, source: "https://aws.amazon.com/fargate/pricing/ (Linux/ARM)" },
  fargateSpotBestDiscount: {
    usd: 0.7,
    source: "https://aws.amazon.com/fargate/pricing/ (Spot: up to 70 % off on-demand; a fraction, not USD)",
  },
  fargateSpotTypicalDiscount: {
    usd: 0.5,
    source:
      "https://aws.amazon.com/fargate/pricing/ (Spot: typical discount observed, 50 %; a fraction, not USD)",
  },
  secretsApiCallsTenThousand: {
    usd: 0.05,
    source: "https://aws.amazon.com/secrets-manager/pricing/ (per 10,000 API calls)",
  },
  internetOutGb: {
    usd: 0.09,
    source: "https://aws.amazon.com/ec2/pricing/on-demand/ (data transfer out to internet, first 10 TB)",
  },
  crossAzGb: {
    usd: 0.02,
    source: "https://aws.amazon.com/ec2/pricing/on-demand/ (data transfer between AZs, $0.01 each way)",
  },
  lambdaArmGbSecond: { usd: 0.0000133334, source: "https://aws.amazon.com/lambda/pricing/ (Arm)" },
  lambdaRequestMillion: { usd: 0.2, source: "https://aws.amazon.com/lambda/pricing/" },
  schedulerInvocationMillion: { usd: 1.0, source: "https://aws.amazon.com/eventbridge/pricing/ (Scheduler)" },
  cloudwatchAlarmMetric: {
    usd: 0.1,
    source: "https://aws.amazon.com/cloudwatch/pricing/ (standard alarm metric)",
  },
  cloudwatchCustomMetric: {
    usd: 0.3,
    source: "https://aws.amazon.com/cloudwatch/pricing/ (first 10k metrics)",
  },
  logsIngestGb: { usd: 0.5, source: "https://aws.amazon.com/cloudwatch/pricing/ (logs, standard ingestion)" },
  logsStoredGbMonth: { usd: 0.03, source: "https://aws.amazon.com/cloudwatch/pricing/ (logs storage)" },
  secretMonth: { usd: 0.4, source: "https://aws.amazon.com/secrets-manager/pricing/" },
  s3StandardGbMonth: { usd: 0.023, source: "https://aws.amazon.com/s3/pricing/ (Standard, first 50 TB)" },
  ecrGbMonth: { usd: 0.1, source: "https://aws.amazon.com/ecr/pricing/" },
  budgetMonth: {
    usd: 0,
    source: "https://aws.amazon.com/aws-cost-management/aws-budgets/pricing/ (first 2 budgets)",
  },
  ssmStandardParameter: { usd: 0, source: "https://aws.amazon.com/systems-manager/pricing/ (standard tier)" },
} as const;

export interface CostLine {
  /** What is priced, e.g. "RDS db.t4g.micro (Single-AZ)". */
  readonly item: string;
  /** The arithmetic, readable: "730 h × $0.016". */
  readonly basis: string;
  readonly monthlyUsd: number;
}

/** Which Spot discount a report assumes. */
export type SpotCase = "best" | "typical";

/**
 * AWS's permanent monthly allowances (the "always free" tier, not the 12-month trial), as the
 * quantities this model meters. https://aws.amazon.com/free/ (Always free).
 */
export const FREE_ALLOWANCES = {
  lambdaRequests: 1_000_000,
  lambdaGbSeconds: 400_000,
  cloudwatchAlarms: 10,
  cloudwatchCustomMetrics: 10,
  logsIngestGb: 5,
  logsStoredGb: 5,
  schedulerInvocations: 14_000_000,
  internetOutGb: 100,
  source:
    "https://aws.amazon.com/free/ (Always free: Lambda, CloudWatch, EventBridge Scheduler, data transfer out)",
} as const;

/** What the stack moves over the network in a month (estimates; see docs/stack.md). */
export const TRAFFIC = {
  /** To the internet through the NAT: requests, AWS API calls (responses come in free). */
  internetOutGb: 1,
  /** Between AZs: half the private subnets' traffic to the NAT (AZ a) and to the database. */
  crossAzGb: 4,
} as const;

export interface CostReport {
  readonly stack: string;
  readonly spot: SpotCase;
  readonly lines: readonly CostLine[];
  /** At list price, before the permanent free allowances. */
  readonly listUsd: number;
  /** The expected bill: list price less the permanent free allowances (the last line). */
  readonly totalUsd: number;
  /** The same bill in the best Spot case (equal to totalUsd without Spot). */
  readonly bestCaseUsd: number;
  readonly budgetUsd: number;
  readonly withinBudget: boolean;
}

/** The seed's budget, and the goal issue 19 set for the dev stack (typical Spot, free allowances in). */
export const SEED_BUDGET_USD = 25;
export const GOAL_USD = 27;

const money = (usd: number) => `$${usd.toFixed(usd < 1 ? 4 : 3)}`;

function rdsHourly(instanceClass: string): number {
  if (instanceClass === "db.t4g.micro") return PRICES.rdsT4gMicroHour.usd;
  if (instanceClass === "db.t4g.small") return PRICES.rdsT4gSmallHour.usd;
  throw new Error(`no price for ${instanceClass} in stack/cost.ts PRICES: add it with its source`);
}

function ec2Hourly(instanceType: string): number {
  if (instanceType === "t4g.nano") return PRICES.ec2T4gNanoHour.usd;
  if (instanceType === "t4g.micro") return PRICES.ec2T4gMicroHour.usd;
  throw new Error(`no price for ${instanceType} in stack/cost.ts PRICES: add it with its source`);
}

function fargateHourly(
  config: StackConfig,
  cpu: number,
  memoryMb: number,
  spot: SpotCase,
): { usd: number; kind: string } {
  const vcpu = cpu / 1024;
  const gb = memoryMb / 1024;
  if (config.fargateCapacity === "spot") {
    const discount =
      spot === "best" ? PRICES.fargateSpotBestDiscount.usd : PRICES.fargateSpotTypicalDiscount.usd;
    return {
      usd: (vcpu * PRICES.fargateX86VcpuHour.usd + gb * PRICES.fargateX86GbHour.usd) * (1 - discount),
      kind: `Spot x86 (${spot}, ${Math.round(discount * 100)} % off)`,
    };
  }
  if (config.fargateArchitecture === "ARM64") {
    return { usd: vcpu * PRICES.fargateArmVcpuHour.usd + gb * PRICES.fargateArmGbHour.usd, kind: "ARM" };
  }
  return { usd: vcpu * PRICES.fargateX86VcpuHour.usd + gb * PRICES.fargateX86GbHour.usd, kind: "x86" };
}

/**
 * Prices a plan line by line.
 * @throws Error when the plan names an instance type the table has no price for.
 */
export function priceStack(plan: StackPlan, spot: SpotCase = "typical"): CostReport {
  const { config } = plan;
  const h = HOURS_PER_MONTH;
  const lines: CostLine[] = [];
  const add = (item: string, basis: string, monthlyUsd: number) => lines.push({ item, basis, monthlyUsd });

  const dbHour = rdsHourly(config.dbInstanceClass);
  // Multi-AZ runs a standby: AWS prices it at twice the Single-AZ instance and storage.
  const az = config.dbMultiAz ? 2 : 1;
  add(
    `RDS PostgreSQL 17 ${config.dbInstanceClass} (${config.dbMultiAz ? "Multi-AZ" : "Single-AZ"})`,
    `${h} h × ${money(dbHour)}${az > 1 ? " × 2" : ""}`,
    h * dbHour * az,
  );
  add(
    `RDS gp3 storage ${config.dbStorageGb} GB`,
    `${config.dbStorageGb} GB × ${money(PRICES.rdsGp3GbMonth.usd)}${az > 1 ? " × 2" : ""}`,
    config.dbStorageGb * PRICES.rdsGp3GbMonth.usd * az,
  );
  add(
    "RDS automated backups",
    `${config.dbBackupRetentionDays} days, within the free 100 % of provisioned storage`,
    0,
  );
  add("RDS Extended Support", "disabled (engineLifecycleSupport); would be 2 vCPU × 730 h × $0.10 = $146", 0);

  if (config.egress === "nat-instance") {
    const natHour = ec2Hourly(config.natInstanceType);
    add(`NAT instance ${config.natInstanceType}`, `${h} h × ${money(natHour)}`, h * natHour);
    add(
      "NAT instance root volume gp3 8 GB",
      `8 GB × ${money(PRICES.ebsGp3GbMonth.usd)}`,
      8 * PRICES.ebsGp3GbMonth.usd,
    );
    add(
      "NAT instance public IPv4",
      `${h} h × ${money(PRICES.publicIpv4Hour.usd)}`,
      h * PRICES.publicIpv4Hour.usd,
    );
  } else {
    add(
      "NAT gateway (one, single AZ)",
      `${h} h × ${money(PRICES.natGatewayHour.usd)}`,
      h * PRICES.natGatewayHour.usd,
    );
    add(
      "NAT gateway data processed",
      `2 GB × ${money(PRICES.natGatewayGb.usd)}`,
      2 * PRICES.natGatewayGb.usd,
    );
    add(
      "NAT gateway Elastic IP",
      `${h} h × ${money(PRICES.publicIpv4Hour.usd)}`,
      h * PRICES.publicIpv4Hour.usd,
    );
  }
  add("S3 gateway endpoint", "free", 0);

  for (const service of plan.services) {
    const rate = fargateHourly(config, service.cpu, service.memoryMb, spot);
    add(
      `Fargate ${rate.kind} ${service.name} ${service.cpu / 1024} vCPU ${service.memoryMb / 1024} GB × ${service.desiredCount}`,
      `${Math.round(service.hoursPerMonth)} h × ${money(rate.usd)}`,
      service.hoursPerMonth * rate.usd * service.desiredCount,
    );
  }
  for (const task of plan.tasks) {
    const rate = fargateHourly(config, task.cpu, task.memoryMb, spot);
    const hours = (task.runsPerMonth * task.minutesPerRun) / 60;
    add(
      `Fargate ${rate.kind} ${task.name} task`,
      `${task.runsPerMonth} runs × ${task.minutesPerRun} min × ${money(rate.usd)}/h`,
      hours * rate.usd,
    );
  }

  let invocations = 0;
  let gbSeconds = 0;
  for (const lambda of plan.lambdas) {
    const runs = (h * 60) / lambda.intervalMinutes;
    invocations += runs;
    gbSeconds += runs * (lambda.expectedDurationMs / 1000) * (config.lambdaMemoryMb / 1024);
  }
  // sortation's asynchronous invokes of the engine (plan.engineWakes: about one a minute in its window).
  const wakes = plan.engineWakes;
  invocations += wakes.perMonth;
  gbSeconds += wakes.perMonth * (wakes.expectedDurationMs / 1000) * (config.lambdaMemoryMb / 1024);
  // The ops-api runs when an operator runs opsctl --target aws, not on a schedule.
  const opsApi = plan.opsApi;
  invocations += opsApi.invocationsPerMonth;
  gbSeconds += opsApi.invocationsPerMonth * (opsApi.expectedDurationMs / 1000) * (opsApi.memoryMb / 1024);
  add(
    `Lambda requests (${plan.lambdas.length} scheduled functions, engine wake-ups, ops-api)`,
    `${Math.round(invocations)} × ${money(PRICES.lambdaRequestMillion.usd)}/M`,
    (invocations / 1e6) * PRICES.lambdaRequestMillion.usd,
  );
  add(
    `Lambda duration Arm (${config.lambdaMemoryMb} MB scheduled, ${opsApi.memoryMb} MB ops-api)`,
    `${Math.round(gbSeconds)} GB-s × ${PRICES.lambdaArmGbSecond.usd}`,
    gbSeconds * PRICES.lambdaArmGbSecond.usd,
  );
  const schedulerRuns =
    invocations -
    opsApi.invocationsPerMonth -
    wakes.perMonth +
    plan.tasks.find((task) => task.name === "backup")!.runsPerMonth +
    plan.serviceScheduleRunsPerMonth;
  add(
    "EventBridge Scheduler invocations",
    `${Math.round(schedulerRuns)} × ${money(PRICES.schedulerInvocationMillion.usd)}/M`,
    (schedulerRuns / 1e6) * PRICES.schedulerInvocationMillion.usd,
  );

  add(
    `CloudWatch alarms (${plan.alarms.length})`,
    `${plan.alarms.length} × ${money(PRICES.cloudwatchAlarmMetric.usd)}`,
    plan.alarms.length * PRICES.cloudwatchAlarmMetric.usd,
  );
  add(
    `CloudWatch custom metrics from the watchdog (${plan.customMetrics})`,
    `${plan.customMetrics} × ${money(PRICES.cloudwatchCustomMetric.usd)}`,
    plan.customMetrics * PRICES.cloudwatchCustomMetric.usd,
  );
  add(
    "CloudWatch Logs ingestion",
    `${plan.logIngestGbPerMonth} GB × ${money(PRICES.logsIngestGb.usd)}`,
    plan.logIngestGbPerMonth * PRICES.logsIngestGb.usd,
  );
  const storedGb = (plan.logIngestGbPerMonth * config.logRetentionDays) / 30;
  add(
    `CloudWatch Logs storage (${config.logRetentionDays}-day retention)`,
    `${storedGb.toFixed(2)} GB × ${money(PRICES.logsStoredGbMonth.usd)}`,
    storedGb * PRICES.logsStoredGbMonth.usd,
  );
  add(
    `Secrets Manager (${plan.secrets} secrets: master login, 2 Alpaca keys; stage roles use IAM tokens)`,
    `${plan.secrets} × ${money(PRICES.secretMonth.usd)}`,
    plan.secrets * PRICES.secretMonth.usd,
  );
  // Each process reads its secrets once (services/common/secrets.ts caches them): a Lambda per cold
  // start, ECS per task start. Cold starts estimated at one per function per hour.
  const secretCalls = (plan.lambdas.length * 24 * 30 + 100) * 2 + 60;
  add(
    "Secrets Manager API calls",
    `~${secretCalls} calls (a read per cold start or task start) × ${money(PRICES.secretsApiCallsTenThousand.usd)}/10k`,
    (secretCalls / 10_000) * PRICES.secretsApiCallsTenThousand.usd,
  );
  add("SSM parameters (standard tier)", "free", 0);
  add(
    "S3 backups",
    `${plan.backupStorageGb} GB × ${money(PRICES.s3StandardGbMonth.usd)}`,
    plan.backupStorageGb * PRICES.s3StandardGbMonth.usd,
  );
  // The lifecycle rule keeps the last 5 images of each repository: up to 5 × each image's size
  // (less, where successive images share layers).
  const ecrGb = plan.imagesGb * 5;
  add(
    "ECR images (the 5 the lifecycle rule keeps per repository)",
    `5 × ${plan.imagesGb} GB × ${money(PRICES.ecrGbMonth.usd)}`,
    ecrGb * PRICES.ecrGbMonth.usd,
  );
  add(
    "Data transfer out to the internet (through the NAT)",
    `${TRAFFIC.internetOutGb} GB × ${money(PRICES.internetOutGb.usd)}`,
    TRAFFIC.internetOutGb * PRICES.internetOutGb.usd,
  );
  add(
    "Data transfer between AZs (private subnets to the NAT and database)",
    `${TRAFFIC.crossAzGb} GB × ${money(PRICES.crossAzGb.usd)}`,
    TRAFFIC.crossAzGb * PRICES.crossAzGb.usd,
  );
  if (config.backupAccessLogs)
    add("S3 access logs of the backup bucket", "a few MB a month, kept 90 days", 0);
  add("AWS Budgets (1 budget)", "first 2 budgets free", 0);
  add("SNS e-mail notifications", "first 1,000 free; alerts are rare", 0);

  const listUsd = Math.round(lines.reduce((sum, line) => sum + line.monthlyUsd, 0) * 100) / 100;

  // AWS's permanent allowances, each capped at what the stack uses of it.
  const F = FREE_ALLOWANCES;
  const free =
    Math.min(invocations, F.lambdaRequests) * (PRICES.lambdaRequestMillion.usd / 1e6) +
    Math.min(gbSeconds, F.lambdaGbSeconds) * PRICES.lambdaArmGbSecond.usd +
    Math.min(plan.alarms.length, F.cloudwatchAlarms) * PRICES.cloudwatchAlarmMetric.usd +
    Math.min(plan.customMetrics, F.cloudwatchCustomMetrics) * PRICES.cloudwatchCustomMetric.usd +
    Math.min(plan.logIngestGbPerMonth, F.logsIngestGb) * PRICES.logsIngestGb.usd +
    Math.min(storedGb, F.logsStoredGb) * PRICES.logsStoredGbMonth.usd +
    Math.min(schedulerRuns, F.schedulerInvocations) * (PRICES.schedulerInvocationMillion.usd / 1e6) +
    Math.min(TRAFFIC.internetOutGb, F.internetOutGb) * PRICES.internetOutGb.usd;
  add(
    "AWS permanent free allowances",
    "Lambda 1M requests + 400k GB-s, 10 alarms, 10 custom metrics, 5 GB logs, 14M scheduler runs, 100 GB out",
    -free,
  );
  const totalUsd = Math.round(lines.reduce((sum, line) => sum + line.monthlyUsd, 0) * 100) / 100;
  const bestCaseUsd =
    spot === "best" || config.fargateCapacity !== "spot" ? totalUsd : priceStack(plan, "best").totalUsd;
  return {
    stack: config.stack,
    spot,
    lines,
    listUsd,
    totalUsd,
    bestCaseUsd,
    budgetUsd: config.monthlyBudgetUsd,
    withinBudget: totalUsd <= config.monthlyBudgetUsd,
  };
}

/** The monthly budget the model supports for a stack: its typical-case bill, rounded up to the dollar. */
export function budgetFromModel(report: CostReport): number {
  return Math.ceil(report.totalUsd);
}

export interface CostMove {
  readonly change: string;
  readonly totalUsd: number;
  readonly deltaUsd: number;
  /** What it costs besides money. */
  readonly tradeOff: string;
}

/**
 * The design choices that move the total, each priced by re-running the model on a changed
 * configuration (so the deltas are the model's, not prose).
 */
export function costMoves(config: StackConfig): CostMove[] {
  const base = priceStack(stackPlan(config)).totalUsd;
  const variants: { change: string; config: Partial<StackConfig>; tradeOff: string }[] = [
    {
      change: "egress nat-gateway instead of nat-instance",
      config: { egress: "nat-gateway" },
      tradeOff: "managed, highly available egress in one AZ; costs more than the rest of the network",
    },
    {
      change: "Fargate on-demand ARM64 instead of Spot x86",
      config: { fargateCapacity: "on-demand", fargateArchitecture: "ARM64" },
      tradeOff: "no Spot interruptions (2-minute notice, then the task is replaced)",
    },
    {
      change: "Fargate on-demand x86 instead of Spot",
      config: { fargateCapacity: "on-demand", fargateArchitecture: "X86_64" },
      tradeOff: "no Spot interruptions",
    },
    {
      change: "services scaled to 0 (serviceDesiredCount 0)",
      config: { serviceDesiredCount: 0 },
      tradeOff: "no classification or execution until scaled up; shows what the services cost",
    },
    {
      change: "sortation at 0.25 vCPU / 0.5 GB",
      config: { sortationMemoryMb: 512 },
      tradeOff:
        "the q8 worker peaked at 667-735 MB resident in the sortation bench (docs/sortation.md): OOM kills",
    },
  ];
  const move = (change: string, plan: StackPlan, tradeOff: string): CostMove => {
    const total = priceStack(plan).totalUsd;
    return { change, totalUsd: total, deltaUsd: Math.round((total - base) * 100) / 100, tradeOff };
  };
  const plan = stackPlan(config);
  // Two choices the program does not offer as configuration, priced on a changed plan.
  return [
    ...variants.map((variant) =>
      move(variant.change, stackPlan({ ...config, ...variant.config }), variant.tradeOff),
    ),
    move(
      "(not built) the dispatcher as a scheduled Lambda each minute instead of a Fargate service",
      { ...plan, services: plan.services.filter((service) => service.name !== "dispatcher") },
      "its runs fit the free Lambda allowance; a recommendation waits up to a minute instead of a NOTIFY wake-up",
    ),
    move(
      "services always on instead of in their windows (stages.ts runsIn)",
      { ...plan, services: plan.services.map((service) => ({ ...service, hoursPerMonth: HOURS_PER_MONTH })) },
      "sortation classifies overnight news at once instead of from 05:50 New York; the dispatcher could still only reject orders while NYSE is closed",
    ),
  ];
}

/** The report as the text `npm run cost` prints. */
export function formatCostReport(report: CostReport, moves: readonly CostMove[]): string {
  const width = Math.max(...report.lines.map((line) => line.item.length));
  const out = [`Monthly cost of stack "${report.stack}" at list prices (${PRICES_AS_OF}):`, ""];
  for (const line of report.lines) {
    out.push(`  ${line.item.padEnd(width)}  ${`$${line.monthlyUsd.toFixed(2)}`.padStart(8)}   ${line.basis}`);
  }
  const usd = (value: number) => `$${value.toFixed(2)}`;
  out.push(
    "",
    `  ${"LIST PRICE".padEnd(width)}  ${usd(report.listUsd).padStart(8)}   before the free allowances`,
    `  ${"TOTAL (expected bill)".padEnd(width)}  ${usd(report.totalUsd).padStart(8)}   ${report.spot} Spot; best case ${usd(report.bestCaseUsd)}`,
    "",
    `  budget $${report.budgetUsd} (the model's typical figure, rounded up): ${report.withinBudget ? "within budget" : `OVER by ${usd(report.totalUsd - report.budgetUsd)}`}`,
    `  the seed's $${SEED_BUDGET_USD}: ${report.totalUsd <= SEED_BUDGET_USD ? "met" : `missed by ${usd(report.totalUsd - SEED_BUDGET_USD)}`}; the $${GOAL_USD} goal: ${report.totalUsd <= GOAL_USD ? "met" : `missed by ${usd(report.totalUsd - GOAL_USD)}`}`,
    "",
    "  the choices that move it:",
  );
  out.push("");
  for (const move of moves) {
    const sign = move.deltaUsd >= 0 ? "+" : "-";
    out.push(
      `  ${move.change}: $${move.totalUsd.toFixed(2)} (${sign}$${Math.abs(move.deltaUsd).toFixed(2)}); ${move.tradeOff}`,
    );
  }
  return out.join("\n");
}
