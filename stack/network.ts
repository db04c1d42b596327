import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { Egress } from "./config.ts";
import { assumeRolePolicy, policyDocument, ssmAgentStatements } from "./iam.ts";

/**
 * The VPC: public subnets (the NAT and nothing else), private subnets with egress (Lambdas,
 * Fargate tasks) and isolated subnets without any route out (the database). Plain @pulumi/aws
 * resources rather than awsx.ec2.Vpc, whose default is a NAT gateway in each of 3 AZs
 * (about $100/month), and so that the tests can assert every route.
 */
export interface NetworkArgs {
  /** The VPC's /16, e.g. 10.20.0.0/16; subnets are /24s cut from it (see subnetCidrs). */
  cidr: string;
  /** Availability zones to span; RDS needs at least two for its subnet group. */
  availabilityZones: pulumi.Input<string[]>;
  /** How private subnets reach the internet: one NAT instance or one NAT gateway, in the first AZ. */
  egress: Egress;
  /** EC2 type of the NAT instance (Graviton: the AMI looked up is arm64). */
  natInstanceType: string;
  /** AMI of the NAT instance; the latest Amazon Linux 2023 arm64 when unset. */
  natImageId?: pulumi.Input<string>;
  /** Where the NAT's alarms (status check, egress stopped, egress runaway) go. */
  alarmTopicArn: pulumi.Input<string>;
  /** Region of the stack: EC2's recover action is `arn:aws:automate:<region>:ec2:recover`. */
  region: string;
}

/** Ports the workloads may open to the internet (through the NAT). */
export const HTTPS_PORT = 443;
export const HTTP_PORT = 80;

/**
 * NetworkOut of the NAT above this many bytes in an hour alarms: the pipeline moves a few MB an
 * hour (feeds, candles, AWS API calls); 1 GB in an hour is a loop or an exfiltration, and NAT data
 * transfer out is billed per GB.
 */
export const NAT_EGRESS_RUNAWAY_BYTES_PER_HOUR = 1024 ** 3;

/** Subnet CIDRs for `azCount` zones: public x.y.0-9.0/24, private x.y.10-19.0/24, isolated x.y.20-29.0/24. */
export function subnetCidrs(vpcCidr: string, azCount: number) {
  if (azCount < 2 || azCount > 3) throw new Error(`azCount must be 2 or 3, got ${azCount}`);
  const match = /^(\d{1,3})\.(\d{1,3})\.0\.0\/16$/.exec(vpcCidr);
  if (!match) throw new Error(`vpc cidr must be a /16 like 10.20.0.0/16, got ${vpcCidr}`);
  const prefix = `${match[1]}.${match[2]}`;
  const cut = (base: number) => Array.from({ length: azCount }, (_, i) => `${prefix}.${base + i}.0/24`);
  return { public: cut(0), private: cut(10), isolated: cut(20) };
}

/**
 * User data turning Amazon Linux 2023 into a NAT (the fck-nat recipe without its AMI): forward
 * IPv4 and masquerade out of the default-route interface. cloud-init runs it once, at first
 * boot; it installs a oneshot unit that applies the rules at every boot. The instance sits in a
 * public subnet with its own address, so it can install nftables if the image lacks it.
 *
 * Kept current by patching in place, not by replacement: a nightly timer (08:15 UTC, US markets
 * closed, after the nightly backup) upgrades to the latest Amazon Linux 2023 release
 * (`--releasever=latest`: AL2023 otherwise stays on the repository version of its AMI) and
 * reboots only when the kernel or a core library changed (`dnf needs-restarting -r`), a gap of
 * about a minute in egress that the next ingest run catches up on. Replacement would need a
 * `pulumi up` that nothing runs on a schedule, and a new instance means a new interface for the
 * private route; the patch needs neither. The SSM agent (AL2023 ships it, the instance profile
 * allows it) lets an operator inspect or patch it without SSH, which stays closed.
 */
export const NAT_USER_DATA = `#!/bin/bash
set -euo pipefail
command -v nft >/dev/null || dnf install -y nftables
cat > /usr/local/sbin/ops-nat <<'SH'
#!/bin/bash
set -euo pipefail
sysctl -qw net.ipv4.ip_forward=1
iface=$(ip -o route show default | awk '{print $5; exit}')
nft -f - <<NFT
table ip ops_nat
delete table ip ops_nat
table ip ops_nat {
  chain postrouting { type nat hook postrouting priority srcnat; oifname "$iface" masquerade; }
}
NFT
SH
chmod 0755 /usr/local/sbin/ops-nat
cat > /etc/systemd/system/ops-nat.service <<'UNIT'
[Unit]
Description=ops-pipeline NAT: IPv4 forwarding and masquerade
Wants=network-online.target
After=network-online.target
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/ops-nat
[Install]
WantedBy=multi-user.target
UNIT
cat > /usr/local/sbin/ops-nat-patch <<'SH'
#!/bin/bash
set -uo pipefail
dnf -y -q upgrade --releasever=latest --refresh
if ! dnf needs-restarting -r >/dev/null 2>&1; then systemctl reboot; fi
SH
chmod 0755 /usr/local/sbin/ops-nat-patch
cat > /etc/systemd/system/ops-nat-patch.service <<'UNIT'
[Unit]
Description=ops-pipeline NAT: apply Amazon Linux updates, reboot when needed
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/ops-nat-patch
UNIT
cat > /etc/systemd/system/ops-nat-patch.timer <<'UNIT'
[Unit]
Description=ops-pipeline NAT: nightly updates
[Timer]
OnCalendar=*-*-* 08:15:00 UTC
Persistent=true
[Install]
WantedBy=timers.target
UNIT
systemctl daemon-reload
systemctl enable --now ops-nat.service
systemctl enable --now ops-nat-patch.timer
/usr/local/sbin/ops-nat-patch || true
`;

export class Network extends pulumi.ComponentResource {
  readonly vpc: aws.ec2.Vpc;
  readonly publicSubnetIds: pulumi.Output<string>[];
  readonly privateSubnetIds: pulumi.Output<string>[];
  readonly isolatedSubnetIds: pulumi.Output<string>[];
  /**
   * Every Lambda and Fargate task: no ingress; egress TCP 443 (AWS APIs, image pulls, market and
   * broker APIs, all through the NAT: there is no interface endpoint) and 5432 to the database
   * group (added by the stack once the database exists, see allowDatabase). Nothing else.
   */
  readonly appSecurityGroup: aws.ec2.SecurityGroup;
  /** Added to the stages that fetch plain-HTTP URLs (ingest: some feeds are http://): egress TCP 80. */
  readonly httpFetchSecurityGroup: aws.ec2.SecurityGroup;
  /** The NAT instance, when egress is nat-instance. */
  natInstance: aws.ec2.Instance | undefined;
  readonly cidr: string;

  constructor(name: string, args: NetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ops-pipeline:stack:Network", name, {}, opts);
    const parent = { parent: this };
    const cidrs = subnetCidrs(args.cidr, 2);
    this.cidr = args.cidr;
    const az = (i: number) =>
      pulumi.output(args.availabilityZones).apply((zones) => {
        const zone = zones[i];
        if (!zone) throw new Error(`the region offers fewer than ${i + 1} availability zones`);
        return zone;
      });

    this.vpc = new aws.ec2.Vpc(
      `${name}-vpc`,
      { cidrBlock: args.cidr, enableDnsHostnames: true, enableDnsSupport: true, tags: { Name: name } },
      parent,
    );
    const igw = new aws.ec2.InternetGateway(`${name}-igw`, { vpcId: this.vpc.id }, parent);

    const subnets = (tier: "public" | "private" | "isolated") =>
      cidrs[tier].map(
        (cidrBlock, i) =>
          new aws.ec2.Subnet(
            `${name}-${tier}-${i}`,
            {
              vpcId: this.vpc.id,
              cidrBlock,
              availabilityZone: az(i),
              // Only the NAT instance lives in public subnets, and it asks for its own address.
              mapPublicIpOnLaunch: false,
              tags: { Name: `${name}-${tier}-${i}`, tier },
            },
            parent,
          ),
      );
    const publicSubnets = subnets("public");
    const privateSubnets = subnets("private");
    const isolatedSubnets = subnets("isolated");
    this.publicSubnetIds = publicSubnets.map((s) => s.id);
    this.privateSubnetIds = privateSubnets.map((s) => s.id);
    this.isolatedSubnetIds = isolatedSubnets.map((s) => s.id);

    const publicRoutes = new aws.ec2.RouteTable(
      `${name}-public-rt`,
      {
        vpcId: this.vpc.id,
        routes: [{ cidrBlock: "0.0.0.0/0", gatewayId: igw.id }],
        tags: { Name: `${name}-public` },
      },
      parent,
    );
    // Isolated: the local route only. The database has no path to or from the internet.
    const isolatedRoutes = new aws.ec2.RouteTable(
      `${name}-isolated-rt`,
      { vpcId: this.vpc.id, tags: { Name: `${name}-isolated` } },
      parent,
    );
    const privateRoutes = new aws.ec2.RouteTable(
      `${name}-private-rt`,
      {
        vpcId: this.vpc.id,
        tags: { Name: `${name}-private` },
      },
      parent,
    );
    const associate = (tier: string, list: aws.ec2.Subnet[], table: aws.ec2.RouteTable) => {
      for (const [i, subnet] of list.entries()) {
        new aws.ec2.RouteTableAssociation(
          `${name}-${tier}-rta-${i}`,
          { subnetId: subnet.id, routeTableId: table.id },
          parent,
        );
      }
    };
    associate("public", publicSubnets, publicRoutes);
    associate("private", privateSubnets, privateRoutes);
    associate("isolated", isolatedSubnets, isolatedRoutes);

    // Free: backups to S3 bypass the NAT (no per-GB NAT charge, no NAT bottleneck).
    new aws.ec2.VpcEndpoint(
      `${name}-s3-endpoint`,
      {
        vpcId: this.vpc.id,
        serviceName: pulumi.interpolate`com.amazonaws.${aws.getRegionOutput({}, parent).region}.s3`,
        vpcEndpointType: "Gateway",
        routeTableIds: [privateRoutes.id, isolatedRoutes.id],
      },
      parent,
    );

    // Rules as their own resources, never inline: the database group and this one refer to each
    // other, and inline rules beside rule resources would fight on every update.
    this.appSecurityGroup = new aws.ec2.SecurityGroup(
      `${name}-app-sg`,
      {
        vpcId: this.vpc.id,
        description:
          "Lambdas and Fargate tasks: no ingress; egress 443 to the internet, 5432 to the database",
      },
      parent,
    );
    new aws.vpc.SecurityGroupEgressRule(
      `${name}-app-https`,
      {
        securityGroupId: this.appSecurityGroup.id,
        ipProtocol: "tcp",
        fromPort: HTTPS_PORT,
        toPort: HTTPS_PORT,
        cidrIpv4: "0.0.0.0/0",
        description: "HTTPS: AWS APIs, image pulls, feeds, market data, broker (through the NAT)",
      },
      parent,
    );
    this.httpFetchSecurityGroup = new aws.ec2.SecurityGroup(
      `${name}-http-fetch-sg`,
      { vpcId: this.vpc.id, description: "Stages fetching http:// URLs: egress 80 to the internet" },
      parent,
    );
    new aws.vpc.SecurityGroupEgressRule(
      `${name}-fetch-http`,
      {
        securityGroupId: this.httpFetchSecurityGroup.id,
        ipProtocol: "tcp",
        fromPort: HTTP_PORT,
        toPort: HTTP_PORT,
        cidrIpv4: "0.0.0.0/0",
        description: "HTTP feeds (through the NAT)",
      },
      parent,
    );
    this.natInstance = undefined;

    const egressTarget = this.createEgress(name, args, publicSubnets[0]!);
    new aws.ec2.Route(
      `${name}-private-default`,
      { routeTableId: privateRoutes.id, destinationCidrBlock: "0.0.0.0/0", ...egressTarget },
      parent,
    );

    this.registerOutputs({
      vpcId: this.vpc.id,
      privateSubnetIds: this.privateSubnetIds,
      isolatedSubnetIds: this.isolatedSubnetIds,
      appSecurityGroupId: this.appSecurityGroup.id,
    });
  }

  /** Egress TCP 5432 from the app group to the database group (the other half of its ingress rule). */
  allowDatabase(name: string, databaseSecurityGroupId: pulumi.Input<string>, port: number): void {
    new aws.vpc.SecurityGroupEgressRule(
      `${name}-app-postgres`,
      {
        securityGroupId: this.appSecurityGroup.id,
        ipProtocol: "tcp",
        fromPort: port,
        toPort: port,
        referencedSecurityGroupId: databaseSecurityGroupId,
        description: "PostgreSQL to the database group only",
      },
      { parent: this },
    );
  }

  private createEgress(
    name: string,
    args: NetworkArgs,
    subnet: aws.ec2.Subnet,
  ): { natGatewayId: pulumi.Input<string> } | { networkInterfaceId: pulumi.Input<string> } {
    const parent = { parent: this };
    if (args.egress === "nat-gateway") {
      const eip = new aws.ec2.Eip(`${name}-nat-eip`, { domain: "vpc" }, parent);
      const nat = new aws.ec2.NatGateway(
        `${name}-nat`,
        { subnetId: subnet.id, allocationId: eip.id },
        parent,
      );
      return { natGatewayId: nat.id };
    }
    // In from the app group only (the isolated tier and anything else in the VPC cannot use it),
    // on the two ports the workloads may open; out on the same two (its own updates use them too).
    const natSg = new aws.ec2.SecurityGroup(
      `${name}-nat-sg`,
      {
        vpcId: this.vpc.id,
        description: "NAT instance: forwards 80/443 from the app security group only",
        ingress: [HTTPS_PORT, HTTP_PORT].map((port) => ({
          protocol: "tcp",
          fromPort: port,
          toPort: port,
          securityGroups: [this.appSecurityGroup.id],
          description: `${port} from the app security group`,
        })),
        egress: [HTTPS_PORT, HTTP_PORT].map((port) => ({
          protocol: "tcp",
          fromPort: port,
          toPort: port,
          cidrBlocks: ["0.0.0.0/0"],
          description: `${port} to the internet`,
        })),
      },
      parent,
    );
    const profile = this.createNatInstanceProfile(name);
    const ami =
      args.natImageId ??
      aws.ssm.getParameterOutput(
        { name: "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64" },
        parent,
      ).value;
    const instance = new aws.ec2.Instance(
      `${name}-nat`,
      {
        ami,
        instanceType: args.natInstanceType,
        subnetId: subnet.id,
        vpcSecurityGroupIds: [natSg.id],
        iamInstanceProfile: profile.name,
        associatePublicIpAddress: true,
        // A NAT forwards packets that are not addressed to it.
        sourceDestCheck: false,
        userData: NAT_USER_DATA,
        userDataReplaceOnChange: true,
        metadataOptions: { httpTokens: "required", httpEndpoint: "enabled" },
        rootBlockDevice: { volumeType: "gp3", volumeSize: 8, encrypted: true, deleteOnTermination: true },
        // EC2 restarts the instance on a host failure (simplified automatic recovery).
        maintenanceOptions: { autoRecovery: "default" },
        tags: { Name: `${name}-nat` },
      },
      // The instance patches itself nightly (NAT_USER_DATA), so a newer AMI is no reason to
      // replace it (and cut egress) on an unrelated `pulumi up`.
      { parent: this, ignoreChanges: ["ami"] },
    );
    this.natInstance = instance;
    this.createNatAlarms(name, args, instance);
    return { networkInterfaceId: instance.primaryNetworkInterfaceId };
  }

  /** SSM core only (ssmAgentStatements): the agent registers, Session Manager and Patch Manager work; nothing else. */
  private createNatInstanceProfile(name: string): aws.iam.InstanceProfile {
    const role = new aws.iam.Role(
      `${name}-nat-role`,
      { assumeRolePolicy: assumeRolePolicy("ec2.amazonaws.com") },
      { parent: this },
    );
    new aws.iam.RolePolicy(
      `${name}-nat-ssm`,
      { role: role.id, policy: policyDocument(ssmAgentStatements()) },
      { parent: this },
    );
    return new aws.iam.InstanceProfile(`${name}-nat-profile`, { role: role.name }, { parent: this });
  }

  /**
   * The NAT is the one path out: a failed status check recovers the instance (EC2's recover
   * action keeps its interface and address) and mails; egress that stops (no bytes out for 15
   * minutes while ingest polls every minute) or runs away (NAT_EGRESS_RUNAWAY_BYTES_PER_HOUR)
   * mails too. Basic EC2 metrics: free, 5-minute periods.
   */
  private createNatAlarms(name: string, args: NetworkArgs, instance: aws.ec2.Instance): void {
    const common = {
      namespace: "AWS/EC2",
      dimensions: { InstanceId: instance.id },
      alarmActions: [args.alarmTopicArn],
      okActions: [args.alarmTopicArn],
    };
    new aws.cloudwatch.MetricAlarm(
      `${name}-nat-status`,
      {
        ...common,
        alarmDescription:
          "NAT instance failed a status check: private subnets have no egress; EC2 recovers it",
        metricName: "StatusCheckFailed",
        statistic: "Maximum",
        period: 60,
        evaluationPeriods: 2,
        comparisonOperator: "GreaterThanOrEqualToThreshold",
        threshold: 1,
        treatMissingData: "breaching",
        alarmActions: [args.alarmTopicArn, `arn:aws:automate:${args.region}:ec2:recover`],
      },
      { parent: this },
    );
    new aws.cloudwatch.MetricAlarm(
      `${name}-nat-egress-stopped`,
      {
        ...common,
        alarmDescription:
          "NAT instance sent almost nothing for 15 minutes: feeds, candles and AWS APIs are unreachable",
        metricName: "NetworkOut",
        statistic: "Sum",
        period: 300,
        evaluationPeriods: 3,
        comparisonOperator: "LessThanThreshold",
        threshold: 200_000,
        treatMissingData: "breaching",
      },
      { parent: this },
    );
    new aws.cloudwatch.MetricAlarm(
      `${name}-nat-egress-runaway`,
      {
        ...common,
        alarmDescription: `NAT instance sent over ${NAT_EGRESS_RUNAWAY_BYTES_PER_HOUR / 1024 ** 3} GB in an hour: a loop or a leak (billed per GB)`,
        metricName: "NetworkOut",
        statistic: "Sum",
        period: 3600,
        evaluationPeriods: 1,
        comparisonOperator: "GreaterThanThreshold",
        threshold: NAT_EGRESS_RUNAWAY_BYTES_PER_HOUR,
        treatMissingData: "notBreaching",
      },
      { parent: this },
    );
  }
}
