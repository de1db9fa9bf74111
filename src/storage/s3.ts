import { isStorageKey, assertStorageKey, isTemporaryName, type Storage } from "./types.ts";

export type S3StorageOptions = {
  endpoint?: string;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Path-style URLs (`endpoint/bucket/key`, what MinIO expects); false → virtual-hosted style. */
  forcePathStyle: boolean;
  /** Keys live under this prefix (`""` or ending in `/`), so a bucket can be shared. */
  prefix: string;
};

const LIST_PAGE = 1_000;

/**
 * Image bytes in an S3-compatible bucket through Bun's built-in client (`Bun.S3Client`).
 *  - put is one PUT of the whole body: S3 makes an object visible only once its upload completes,
 *    so a failed or interrupted upload leaves nothing behind; an upload whose PUT succeeded but
 *    whose row never committed leaves an object without a row, which the reconciler removes
 *    after its grace period (listed by prefix, aged by LastModified).
 *  - read streams one ranged GET, and waits for the store's first answer before the response
 *    starts, so a missing object is a 404, not a broken 200.
 */
export function createS3Storage(opts: S3StorageOptions): Storage {
  const client = new Bun.S3Client({
    endpoint: opts.endpoint,
    bucket: opts.bucket,
    region: opts.region,
    accessKeyId: opts.accessKeyId,
    secretAccessKey: opts.secretAccessKey,
    virtualHostedStyle: !opts.forcePathStyle,
  });
  const pathOf = (key: string) => {
    assertStorageKey(key);
    return `${opts.prefix}${key}`;
  };

  async function* listAll(): AsyncGenerator<{ name: string; modifiedAtMs: number }> {
    let continuationToken: string | undefined;
    do {
      const page = await client.list({ prefix: opts.prefix || undefined, maxKeys: LIST_PAGE, continuationToken });
      for (const o of page.contents ?? []) {
        const name = o.key.slice(opts.prefix.length);
        if (!o.key.startsWith(opts.prefix) || name.includes("/")) continue; // another folder's object
        yield { name, modifiedAtMs: o.lastModified ? Date.parse(o.lastModified) : 0 };
      }
      continuationToken = page.isTruncated ? page.nextContinuationToken : undefined;
    } while (continuationToken);
  }

  return {
    backend: "s3",
    async put(key, bytes) {
      await client.write(pathOf(key), bytes);
    },
    async get(key) {
      const path = pathOf(key);
      try {
        const { size } = await client.stat(path);
        return { size, blob: client.file(path) };
      } catch (err) {
        if (isMissing(err)) return undefined;
        throw err;
      }
    },
    async read(key, { start, end }) {
      const reader = client.file(pathOf(key)).slice(start, end + 1).stream().getReader();
      let first: Awaited<ReturnType<typeof reader.read>>;
      try {
        first = await reader.read();
      } catch (err) {
        if (isMissing(err)) return undefined;
        throw err;
      }
      // The first chunk is in hand (the object exists); hand on it and the rest as they come.
      let pending: Uint8Array | undefined = first.done ? undefined : first.value;
      let done = first.done;
      return new ReadableStream<Uint8Array>({
        async pull(controller) {
          if (pending) {
            controller.enqueue(pending);
            pending = undefined;
            return;
          }
          if (done) return controller.close();
          const next = await reader.read();
          if (next.done) {
            done = true;
            controller.close();
          } else controller.enqueue(next.value);
        },
        cancel: (reason) => reader.cancel(reason),
      });
    },
    presignedUrl(key, { expiresInSeconds, contentType, disposition }) {
      return client.presign(pathOf(key), { method: "GET", expiresIn: expiresInSeconds, type: contentType, contentDisposition: disposition });
    },
    async delete(key) {
      await client.delete(pathOf(key)); // S3 answers 204 for a missing key too
    },
    async exists(key) {
      return client.exists(pathOf(key));
    },
    async list() {
      const names: string[] = [];
      for await (const o of listAll()) names.push(o.name);
      return names.sort();
    },
    async *scan() {
      for await (const o of listAll()) {
        const temporary = isTemporaryName(o.name);
        if (temporary || isStorageKey(o.name)) yield { name: o.name, temporary, modifiedAtMs: o.modifiedAtMs };
      }
    },
    async removeTemporary(name) {
      if (!isTemporaryName(name)) throw new Error(`not a temporary name ${JSON.stringify(name)}`);
      await client.delete(`${opts.prefix}${name}`);
    },
    async check() {
      // Reachable, the bucket exists and the credentials may list it.
      try {
        await client.list({ prefix: opts.prefix || undefined, maxKeys: 1 });
        return undefined;
      } catch (err) {
        return describeS3Error(err);
      }
    },
  };
}

function isMissing(err: unknown): boolean {
  const code = (err as { code?: string } | undefined)?.code;
  return code === "NoSuchKey" || code === "NotFound";
}

/** One line: the S3 error code, or the connection failure. */
function describeS3Error(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return [e?.code, e?.message].filter(Boolean).join(": ") || String(err);
}
