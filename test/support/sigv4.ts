// An AWS Signature Version 4 verifier of the tests' own, independent of Bun's signer, checked
// against AWS's published examples (test/s3-signing.test.ts). The test S3 server (s3rver) accepts
// any signature, so the tests put this in front of it: every request Bun.S3Client sends, and
// every presigned URL chitram hands out, must carry a signature made with the right secret.
import { createHash, createHmac } from "node:crypto";

export type Credentials = { accessKeyId: string; secretAccessKey: string };
export type SignedRequest = { method: string; url: string; headers: Headers };

const sha256Hex = (data: string) => createHash("sha256").update(data).digest("hex");
const hmac = (key: string | Buffer, data: string) => createHmac("sha256", key).update(data).digest();

// RFC 3986 percent-encoding as SigV4 wants it: everything but A-Z a-z 0-9 - _ . ~
const encode = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`);

function canonicalQuery(params: URLSearchParams, skip?: string): string {
  return [...params.entries()]
    .filter(([k]) => k !== skip)
    .map(([k, v]) => [encode(k), encode(v)] as const)
    .sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
}

/** The signature SigV4 gives these parts (the canonical request is built here, from scratch). */
export function signature(parts: {
  method: string;
  /** The path exactly as sent (already percent-encoded once, as S3 wants it). */
  path: string;
  query: string;
  headers: Array<[string, string]>;
  payloadHash: string;
  amzDate: string;
  scope: string;
  secretAccessKey: string;
}): string {
  const signed = parts.headers.map(([k, v]) => [k.toLowerCase(), v.trim().replace(/\s+/g, " ")] as const).sort(([a], [b]) => (a < b ? -1 : 1));
  const canonical = [
    parts.method,
    parts.path,
    parts.query,
    signed.map(([k, v]) => `${k}:${v}\n`).join(""),
    signed.map(([k]) => k).join(";"),
    parts.payloadHash,
  ].join("\n");
  const stringToSign = ["AWS4-HMAC-SHA256", parts.amzDate, parts.scope, sha256Hex(canonical)].join("\n");
  const [date, region, service] = parts.scope.split("/") as [string, string, string];
  let key: Buffer = hmac(`AWS4${parts.secretAccessKey}`, date);
  for (const step of [region, service, "aws4_request"]) key = hmac(key, step);
  return createHmac("sha256", key).update(stringToSign).digest("hex");
}

/**
 * Checks a request signed in its Authorization header or in its query (a presigned URL).
 * Undefined when the signature is right and current; otherwise why not.
 */
export function verifySigV4(req: SignedRequest, creds: Credentials, nowMs = Date.now()): string | undefined {
  const url = new URL(req.url);
  const rawPath = req.url.slice(req.url.indexOf(url.host) + url.host.length).split("?")[0] || "/";
  const q = url.searchParams;
  let credential: string, signedHeaders: string[], given: string, amzDate: string, payloadHash: string, query: string;
  const auth = req.headers.get("authorization");
  if (auth) {
    const m = /^AWS4-HMAC-SHA256 Credential=([^,]+), ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
    if (!m) return "malformed Authorization header";
    [credential, signedHeaders, given] = [m[1]!, m[2]!.split(";"), m[3]!];
    amzDate = req.headers.get("x-amz-date") ?? "";
    payloadHash = req.headers.get("x-amz-content-sha256") ?? sha256Hex("");
    query = canonicalQuery(q);
  } else if (q.get("X-Amz-Algorithm") === "AWS4-HMAC-SHA256") {
    credential = q.get("X-Amz-Credential") ?? "";
    signedHeaders = (q.get("X-Amz-SignedHeaders") ?? "").split(";");
    given = q.get("X-Amz-Signature") ?? "";
    amzDate = q.get("X-Amz-Date") ?? "";
    payloadHash = "UNSIGNED-PAYLOAD";
    query = canonicalQuery(q, "X-Amz-Signature");
    const expires = Number(q.get("X-Amz-Expires"));
    const signedAt = Date.parse(amzDate.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, "$1-$2-$3T$4:$5:$6Z"));
    if (!(expires > 0) || Number.isNaN(signedAt)) return "malformed presigned URL";
    if (nowMs > signedAt + expires * 1000) return "presigned URL expired";
  } else return "not signed";

  const [keyId, ...scopeParts] = credential.split("/");
  if (keyId !== creds.accessKeyId) return "unknown access key";
  const headers = signedHeaders.map((h): [string, string] => [h, h === "host" ? (req.headers.get("host") ?? url.host) : (req.headers.get(h) ?? "")]);
  const expected = signature({ method: req.method, path: rawPath, query, headers, payloadHash, amzDate, scope: scopeParts.join("/"), secretAccessKey: creds.secretAccessKey });
  return expected === given ? undefined : "signature does not match";
}
