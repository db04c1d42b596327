import type { StackConfig } from "./config.ts";
import type { StackPlan } from "./plan.ts";
import { stackPlan } from "./plan.ts";

/**
 * The monthly cost of what a stack declares, at us-east-1 on-demand list prices. Pure: it prices
 * a StackPlan, the same object the program builds its resources from.
 *
 * The prices are the public list prices as recorded by the author from the AWS pricing pages
 * named in `source` (figures current in 2025); they were NOT re-checked against the live pages
 * when this was written (no network on the build machine). Fargate Spot is a market price: the
 * figure is a typical one (about 70 % below on-demand), not a quote. Free tiers are ignored:
 * the goal is the list price.
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
  fargateSpotVcpuHour: {
    usd: 0.012144,
    source: "https://aws.amazon.com/fargate/pricing/ (Spot, typical; varies)",
  },
  fargateSpotGbHour: {
    usd: 0.0013335,
    source: "https://aws.amazon.com/fargate/pricing/ (Spot, typical; varies)",
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

export interface CostReport {
  readonly stack: string;
  readonly lines: readonly CostLine[];
  readonly totalUsd: number;
  readonly budgetUsd: number;
  readonly withinBudget: boolean;
}

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

function fargateHourly(config: StackConfig, cpu: number, memoryMb: number): { usd: number; kind: string } {
  const vcpu = cpu / 1024;
  const gb = memoryMb / 1024;
  if (config.fargateCapacity === "spot") {
    return {
      usd: vcpu * PRICES.fargateSpotVcpuHour.usd + gb * PRICES.fargateSpotGbHour.usd,
      kind: "Spot x86",
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
export function priceStack(plan: StackPlan): CostReport {
  const { config } = plan;
  const h = HOURS_PER_MONTH;
  const lines: CostLine[] = [];
  const add = (item: string, basis: string, monthlyUsd: number) => lines.push({ item, basis, monthlyUsd });

  const dbHour = rdsHourly(config.dbInstanceClass);
  add(`RDS PostgreSQL 17 ${config.dbInstanceClass} (Single-AZ)`, `${h} h × ${money(dbHour)}`, h * dbHour);
  add(
    `RDS gp3 storage ${config.dbStorageGb} GB`,
    `${config.dbStorageGb} GB × ${money(PRICES.rdsGp3GbMonth.usd)}`,
    config.dbStorageGb * PRICES.rdsGp3GbMonth.usd,
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
    const rate = fargateHourly(config, service.cpu, service.memoryMb);
    add(
      `Fargate ${rate.kind} ${service.name} ${service.cpu / 1024} vCPU ${service.memoryMb / 1024} GB × ${service.desiredCount}`,
      `${Math.round(service.hoursPerMonth)} h × ${money(rate.usd)}`,
      service.hoursPerMonth * rate.usd * service.desiredCount,
    );
  }
  for (const task of plan.tasks) {
    const rate = fargateHourly(config, task.cpu, task.memoryMb);
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
  // The ops-api runs when an operator runs opsctl --target aws, not on a schedule.
  const opsApi = plan.opsApi;
  invocations += opsApi.invocationsPerMonth;
  gbSeconds += opsApi.invocationsPerMonth * (opsApi.expectedDurationMs / 1000) * (opsApi.memoryMb / 1024);
  add(
    `Lambda requests (${plan.lambdas.length} scheduled functions + ops-api)`,
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
    opsApi.invocationsPerMonth +
    plan.tasks.find((task) => task.name === "backup")!.runsPerMonth;
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
    `Secrets Manager (${plan.secrets} secret)`,
    `${plan.secrets} × ${money(PRICES.secretMonth.usd)}`,
    plan.secrets * PRICES.secretMonth.usd,
  );
  add("SSM parameters (standard tier)", "free", 0);
  add(
    "S3 backups",
    `${plan.backupStorageGb} GB × ${money(PRICES.s3StandardGbMonth.usd)}`,
    plan.backupStorageGb * PRICES.s3StandardGbMonth.usd,
  );
  add(
    "ECR images",
    `${plan.imagesGb} GB × ${money(PRICES.ecrGbMonth.usd)}`,
    plan.imagesGb * PRICES.ecrGbMonth.usd,
  );
  add("AWS Budgets (1 budget)", "first 2 budgets free", 0);
  add("SNS e-mail notifications", "first 1,000 free; alerts are rare", 0);

  const totalUsd = Math.round(lines.reduce((sum, line) => sum + line.monthlyUsd, 0) * 100) / 100;
  return {
    stack: config.stack,
    lines,
    totalUsd,
    budgetUsd: config.monthlyBudgetUsd,
    withinBudget: totalUsd <= config.monthlyBudgetUsd,
  };
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
  const marketHours = (60 / 168) * HOURS_PER_MONTH;
  return [
    ...variants.map((variant) =>
      move(variant.change, stackPlan({ ...config, ...variant.config }), variant.tradeOff),
    ),
    move(
      "(not built) services only in US market hours, about 60 of 168 h a week",
      { ...plan, services: plan.services.map((service) => ({ ...service, hoursPerMonth: marketHours })) },
      "scheduled scaling; sortation classifies the overnight backlog each morning; alarms must follow the schedule",
    ),
    move(
      "(not built) no CloudWatch staleness alarms or per-stage metrics",
      {
        ...plan,
        alarms: plan.alarms.filter((alarm) => !alarm.endsWith("-stale")),
        customMetrics: 1,
      },
      "the watchdog's own SNS alerts still report staleness, but nothing outside it does",
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
  out.push(
    "",
    `  ${"TOTAL".padEnd(width)}  ${`$${report.totalUsd.toFixed(2)}`.padStart(8)}   budget $${report.budgetUsd}`,
  );
  out.push(
    report.withinBudget
      ? "  within budget"
      : `  OVER budget by $${(report.totalUsd - report.budgetUsd).toFixed(2)}: the choices that move it:`,
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
