import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import path from "node:path";
import * as aws from "@pulumi/aws";
import * as awsx from "@pulumi/awsx";
import * as pulumi from "@pulumi/pulumi";
import type { CpuArchitecture } from "./config.ts";

/**
 * One container image: either a prebuilt URI from the stack's config, or an ECR repository
 * (scan on push, last 5 images kept) plus an image built from the repository's Dockerfile with
 * awsx.ecr.Image, which needs a running Docker engine (with buildx for a foreign platform)
 * where `pulumi up` runs.
 */
export interface ContainerImageArgs {
  /** A prebuilt image URI (tag or digest); when set nothing is built or created. */
  prebuiltUri: string | undefined;
  /** The Dockerfile, relative to `context`, e.g. docker/app.Dockerfile. */
  dockerfile: string;
  /** The build context: the repository root (the Dockerfiles copy package files and sources). */
  context: string;
  /** The architecture the image runs on: must match the task definitions'. */
  architecture: CpuArchitecture;
  /** ECR repository name, e.g. ops-pipeline-dev/app. */
  repositoryName: string;
  /** Delete the repository's images on `pulumi destroy` (dev stacks). */
  forceDelete: boolean;
  /** The tag pushed: unique per source state (sourceImageTag), since the repository's tags are immutable. */
  imageTag: string;
}

/**
 * The tag of an image built from `root`: the commit, plus a hash of uncommitted changes when the
 * tree is dirty, so two different builds never claim one (immutable) tag.
 * @throws Error when `root` is not a git work tree.
 */
export function sourceImageTag(root: string): string {
  const git = (...args: string[]) => execFileSync("git", ["-C", root, ...args], { encoding: "utf8" });
  const commit = git("rev-parse", "--short=12", "HEAD").trim();
  const diff = git("diff", "HEAD") + git("ls-files", "--others", "--exclude-standard");
  return diff === ""
    ? commit
    : `${commit}-dirty-${createHash("sha256").update(diff).digest("hex").slice(0, 8)}`;
}

export class ContainerImage extends pulumi.ComponentResource {
  readonly imageUri: pulumi.Output<string>;

  constructor(name: string, args: ContainerImageArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ops-pipeline:stack:ContainerImage", name, {}, opts);
    if (args.prebuiltUri !== undefined) {
      if (!/[:@]/.test(args.prebuiltUri.split("/").pop() ?? "") || args.prebuiltUri.endsWith(":latest")) {
        throw new Error(
          `image ${args.prebuiltUri} must be pinned by a tag other than latest, or by a digest`,
        );
      }
      this.imageUri = pulumi.output(args.prebuiltUri);
    } else {
      const repository = new aws.ecr.Repository(
        `${name}-repo`,
        {
          name: args.repositoryName,
          // Tasks reference images by digest (awsx.ecr.Image returns repo@sha256:...), and a tag,
          // once pushed, names one image forever: what a tag meant yesterday it means today.
          imageTagMutability: "IMMUTABLE",
          imageScanningConfiguration: { scanOnPush: true },
          encryptionConfigurations: [{ encryptionType: "AES256" }],
          forceDelete: args.forceDelete,
        },
        { parent: this },
      );
      new aws.ecr.LifecyclePolicy(
        `${name}-lifecycle`,
        {
          repository: repository.name,
          policy: JSON.stringify({
            rules: [
              {
                rulePriority: 1,
                description: "keep the last 5 images",
                selection: { tagStatus: "any", countType: "imageCountMoreThan", countNumber: 5 },
                action: { type: "expire" },
              },
            ],
          }),
        },
        { parent: this },
      );
      const image = new awsx.ecr.Image(
        `${name}-image`,
        {
          repositoryUrl: repository.repositoryUrl,
          context: args.context,
          dockerfile: path.join(args.context, args.dockerfile),
          platform: args.architecture === "ARM64" ? "linux/arm64" : "linux/amd64",
          imageTag: args.imageTag,
        },
        { parent: this },
      );
      this.imageUri = image.imageUri;
    }
    this.registerOutputs({ imageUri: this.imageUri });
  }
}
