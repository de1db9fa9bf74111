/** Where image bytes live. Keys are made by the server (`<uuid>.<ext>`), never by clients. */
export type Storage = {
  readonly backend: string;
  /** Writes atomically: readers never see a partial object; on failure nothing is left behind. */
  put(key: string, bytes: Uint8Array): Promise<void>;
  /** A lazily-read body for streaming responses, or undefined when the object is missing. */
  get(key: string): Promise<StoredObject | undefined>;
  /** Removes the object; missing objects are not an error. */
  delete(key: string): Promise<void>;
  exists(key: string): Promise<boolean>;
  /** Lists every key (tests and orphan checks). */
  list(): Promise<string[]>;
};

export type StoredObject = { size: number; blob: Blob };

const KEY = /^[0-9a-f-]{36}\.(jpg|png|gif|webp)$/;

/** Refuses anything that is not a server-made key, so no caller can turn a key into a path. */
export function assertStorageKey(key: string): void {
  if (!KEY.test(key)) throw new Error(`invalid storage key ${JSON.stringify(key)}`);
}
