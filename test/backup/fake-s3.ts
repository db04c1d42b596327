import { createHash, randomUUID } from "node:crypto";
import { type Answer, type RecordingServer, startRecordingServer } from "../watchdog/http-recorder.ts";

/**
 * Just enough of the S3 REST API (path-style) for the backup storage: PutObject, multipart upload
 * (Create, UploadPart, Complete, Abort), GetObject, ListObjectsV2 and DeleteObject, answering with
 * the XML S3 sends. Objects live in memory; every request is recorded for assertions.
 */
export interface FakeS3 extends RecordingServer {
  objects: Map<string, Buffer>;
  /** Operation names in order, e.g. "CreateMultipartUpload". */
  operations(): string[];
}

function xml(body: string): Answer {
  return {
    headers: { "content-type": "application/xml" },
    body: `<?xml version="1.0" encoding="UTF-8"?>${body}`,
  };
}

const etag = (data: Buffer) => `"${createHash("md5").update(data).digest("hex")}"`;

export function operationOf(method: string, url: URL): string {
  const q = url.searchParams;
  if (method === "POST" && q.has("uploads")) return "CreateMultipartUpload";
  if (method === "PUT" && q.has("partNumber")) return "UploadPart";
  if (method === "POST" && q.has("uploadId")) return "CompleteMultipartUpload";
  if (method === "DELETE" && q.has("uploadId")) return "AbortMultipartUpload";
  if (method === "GET" && q.get("list-type") === "2") return "ListObjectsV2";
  if (method === "PUT") return "PutObject";
  if (method === "GET") return "GetObject";
  if (method === "DELETE") return "DeleteObject";
  return `${method}?`;
}

export async function startFakeS3(bucket: string): Promise<FakeS3> {
  const objects = new Map<string, Buffer>();
  const uploads = new Map<string, { key: string; parts: Map<number, Buffer> }>();
  const server = await startRecordingServer((request): Answer => {
    const url = new URL(request.url, "http://localhost");
    const [, bucketName = "", ...rest] = url.pathname.split("/");
    const key = decodeURIComponent(rest.join("/"));
    if (bucketName !== bucket)
      return { status: 404, ...xml("<Error><Code>NoSuchBucket</Code><Message>no bucket</Message></Error>") };
    switch (operationOf(request.method, url)) {
      case "CreateMultipartUpload": {
        const uploadId = randomUUID();
        uploads.set(uploadId, { key, parts: new Map() });
        return xml(
          `<InitiateMultipartUploadResult><Bucket>${bucket}</Bucket><Key>${key}</Key><UploadId>${uploadId}</UploadId></InitiateMultipartUploadResult>`,
        );
      }
      case "UploadPart": {
        const upload = uploads.get(url.searchParams.get("uploadId") ?? "");
        if (!upload)
          return {
            status: 404,
            ...xml("<Error><Code>NoSuchUpload</Code><Message>no upload</Message></Error>"),
          };
        upload.parts.set(Number(url.searchParams.get("partNumber")), request.body);
        return { headers: { etag: etag(request.body) } };
      }
      case "CompleteMultipartUpload": {
        const uploadId = url.searchParams.get("uploadId") ?? "";
        const upload = uploads.get(uploadId);
        if (!upload)
          return {
            status: 404,
            ...xml("<Error><Code>NoSuchUpload</Code><Message>no upload</Message></Error>"),
          };
        const numbers = [...request.body.toString("utf8").matchAll(/<PartNumber>(\d+)<\/PartNumber>/g)].map(
          (m) => Number(m[1]),
        );
        objects.set(key, Buffer.concat(numbers.map((n) => upload.parts.get(n) ?? Buffer.alloc(0))));
        uploads.delete(uploadId);
        return xml(
          `<CompleteMultipartUploadResult><Bucket>${bucket}</Bucket><Key>${key}</Key><ETag>"done-${numbers.length}"</ETag></CompleteMultipartUploadResult>`,
        );
      }
      case "AbortMultipartUpload":
        uploads.delete(url.searchParams.get("uploadId") ?? "");
        return { status: 204 };
      case "PutObject":
        objects.set(key, request.body);
        return { headers: { etag: etag(request.body) } };
      case "GetObject": {
        const data = objects.get(key);
        if (!data)
          return {
            status: 404,
            ...xml(
              `<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>${key}</Key></Error>`,
            ),
          };
        return {
          headers: { "content-type": "application/octet-stream", "content-length": String(data.length) },
          body: data,
        };
      }
      case "ListObjectsV2": {
        const prefix = url.searchParams.get("prefix") ?? "";
        const contents = [...objects.entries()]
          .filter(([k]) => k.startsWith(prefix))
          .sort(([a], [b]) => a.localeCompare(b))
          .map(
            ([k, v]) =>
              `<Contents><Key>${k}</Key><Size>${v.length}</Size><LastModified>2026-11-25T00:00:00.000Z</LastModified><ETag>${etag(v)}</ETag><StorageClass>STANDARD</StorageClass></Contents>`,
          )
          .join("");
        return xml(
          `<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>${bucket}</Name><Prefix>${prefix}</Prefix><KeyCount>${objects.size}</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>${contents}</ListBucketResult>`,
        );
      }
      case "DeleteObject":
        objects.delete(key);
        return { status: 204 };
      default:
        return {
          status: 400,
          ...xml("<Error><Code>NotImplemented</Code><Message>fake S3</Message></Error>"),
        };
    }
  });
  return {
    ...server,
    url: server.url,
    requests: server.requests,
    close: server.close,
    objects,
    operations: () => server.requests.map((r) => operationOf(r.method, new URL(r.url, "http://localhost"))),
  };
}
