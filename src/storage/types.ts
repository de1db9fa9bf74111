/** Where image bytes live. Keys are made by the server (`<uuid>.<ext>`), never by clients. */
export type Storage = {
  readonly backend: string;
  /** Writes atomically: readers never see a partial object; on failure nothing is left behind. */
  put(key: string, bytes: Uint8Array): Promise<void>;
  /** A lazily-read body for streaming responses, or undefined when the object is missing. */
  get(key: string): Promise<StoredObject | undefined>;
  /**
   * Bytes `start`..`end` (inclusive) of an object whose size the caller already knows (from its
   * row): no existence or size request first. Resolves once the store has answered, so a missing
   * object is undefined rather than a broken response; the body is streamed, never buffered.
   */
  read(key: string, range: ByteRange): Promise<Blob | ReadableStream<Uint8Array> | undefined>;
  /** A short-lived URL the object store serves the bytes from (only backends that have one). */
  presignedUrl?(key: string, opts: { expiresInSeconds: number; contentType: string; disposition: string }): string;
  /** Removes the object; missing objects are not an error. */
  delete(key: string): Promise<void>;
  exists(key: string): Promise<boolean>;
  /** Every entry's name, objects and leftover temporaries alike, sorted (tests and orphan checks). */
  list(): Promise<string[]>;
  /** Every entry with its age, for the reconciler. Names that are neither keys nor temporaries are skipped. */
  scan(): AsyncIterable<StoredEntry>;
  /** Removes a leftover temporary (a name `scan` reported as temporary). */
  removeTemporary(name: string): Promise<void>;
  /** Undefined when the storage can be written to; otherwise why not (for /health). */
  check(): Promise<string | undefined>;
};

export type StoredObject = { size: number; blob: Blob };
export type ByteRange = { start: number; end: number };
export type StoredEntry = { name: string; temporary: boolean; modifiedAtMs: number };

const KEY = /^[0-9a-f-]{36}(\.(jpg|png|gif|webp)|\.thumb\.jpg)$/;
const TEMPORARY = /^[0-9a-f-]{36}(\.(jpg|png|gif|webp)|\.thumb\.jpg)\.[0-9a-f-]{36}\.tmp$/;

/** The storage key of an image's original bytes: made by the server from the id and the detected type. */
export const storageKeyOf = (id: string, ext: string) => `${id}.${ext}`;
/** The storage key of an image's thumbnail (always a JPEG). */
export const thumbnailKeyOf = (id: string) => `${id}.thumb.jpg`;
export const isThumbnailKey = (key: string) => key.endsWith(".thumb.jpg");

export const isStorageKey = (name: string) => KEY.test(name);
export const isTemporaryName = (name: string) => TEMPORARY.test(name);
/** The name a write in progress uses before it becomes `key`. */
export const temporaryNameOf = (key: string) => `${key}.${crypto.randomUUID()}.tmp`;

/** Refuses anything that is not a server-made key, so no caller can turn a key into a path. */
export function assertStorageKey(key: string): void {
  if (!KEY.test(key)) throw new Error(`invalid storage key ${JSON.stringify(key)}`);
}
