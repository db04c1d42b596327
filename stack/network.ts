import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { Egress } from "./config.ts";

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
}

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
systemctl daemon-reload
systemctl enable --now ops-nat.service
`;

export class Network extends pulumi.ComponentResource {
  readonly vpc: aws.ec2.Vpc;
  readonly publicSubnetIds: pulumi.Output<string>[];
  readonly privateSubnetIds: pulumi.Output<string>[];
  readonly isolatedSubnetIds: pulumi.Output<string>[];
  /** Lambdas and Fargate tasks: no ingress, egress anywhere (feeds, market APIs, AWS APIs). */
  readonly appSecurityGroup: aws.ec2.SecurityGroup;
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
    const egressTarget = this.createEgress(name, args, publicSubnets[0]!);
    const privateRoutes = new aws.ec2.RouteTable(
      `${name}-private-rt`,
      {
        vpcId: this.vpc.id,
        routes: [{ cidrBlock: "0.0.0.0/0", ...egressTarget }],
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

    this.appSecurityGroup = new aws.ec2.SecurityGroup(
      `${name}-app-sg`,
      {
        vpcId: this.vpc.id,
        description: "Lambdas and Fargate tasks: no ingress; egress to the internet through the NAT",
        egress: [
          { protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"], description: "egress" },
        ],
      },
      parent,
    );

    this.registerOutputs({
      vpcId: this.vpc.id,
      privateSubnetIds: this.privateSubnetIds,
      isolatedSubnetIds: this.isolatedSubnetIds,
      appSecurityGroupId: this.appSecurityGroup.id,
    });
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
    const natSg = new aws.ec2.SecurityGroup(
      `${name}-nat-sg`,
      {
        vpcId: this.vpc.id,
        description: "NAT instance: forwards traffic from inside the VPC only",
        ingress: [
          { protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: [args.cidr], description: "from the VPC" },
        ],
        egress: [
          {
            protocol: "-1",
            fromPort: 0,
            toPort: 0,
            cidrBlocks: ["0.0.0.0/0"],
            description: "to the internet",
          },
        ],
      },
      parent,
    );
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
      // A new AL2023 release must not replace the NAT (and cut egress) on an unrelated `pulumi up`.
      { parent: this, ignoreChanges: ["ami"] },
    );
    return { networkInterfaceId: instance.primaryNetworkInterfaceId };
  }
}
