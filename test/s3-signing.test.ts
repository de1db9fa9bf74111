import { describe, expect, test } from "bun:test";
import { signature, verifySigV4 } from "./support/sigv4.ts";

// AWS's published examples ("Authenticating Requests: Using the Authorization Header" and
// "... Using Query Parameters", Amazon S3 API reference): the verifier must reproduce them before
// it may judge Bun's signatures.
const AWS_EXAMPLE = { accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" };
const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

describe("SigV4 verifier (test support) against AWS's published examples", () => {
  test("GET Object with a Range, signed in the Authorization header", () => {
    const sig = signature({
      method: "GET",
      path: "/test.txt",
      query: "",
      headers: [["host", "examplebucket.s3.amazonaws.com"], ["range", "bytes=0-9"], ["x-amz-content-sha256", EMPTY_SHA256], ["x-amz-date", "20130524T000000Z"]],
      payloadHash: EMPTY_SHA256,
      amzDate: "20130524T000000Z",
      scope: "20130524/us-east-1/s3/aws4_request",
      secretAccessKey: AWS_EXAMPLE.secretAccessKey,
    });
    expect(sig).toBe("f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  });

  test("a presigned GET (query parameters), verified end to end, and refused when anything is off", () => {
    const url =
      "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";
    const at = Date.parse("2013-05-24T01:00:00Z");
    const req = (u: string) => ({ method: "GET", url: u, headers: new Headers() });
    expect(verifySigV4(req(url), AWS_EXAMPLE, at)).toBeUndefined();
    expect(verifySigV4(req(url), { ...AWS_EXAMPLE, secretAccessKey: "wrong" }, at)).toBe("signature does not match");
    expect(verifySigV4(req(url.replace("test.txt", "test2.txt")), AWS_EXAMPLE, at)).toBe("signature does not match");
    expect(verifySigV4(req(url.replace("Expires=86400", "Expires=86401")), AWS_EXAMPLE, at)).toBe("signature does not match");
    expect(verifySigV4(req(url), AWS_EXAMPLE, Date.parse("2013-05-25T00:00:01Z"))).toBe("presigned URL expired");
  });
});
