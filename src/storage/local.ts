import { mkdirSync } from "node:fs";
import { readdir, rename, rm, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { assertStorageKey, type Storage } from "./types.ts";

const TMP_SUFFIX = ".tmp";

/** Images on the local disk under `root`: written to a temporary file, fsynced, then renamed. */
export function createLocalStorage(root: string): Storage {
  mkdirSync(root, { recursive: true });
  const pathOf = (key: string) => {
    assertStorageKey(key);
    return join(root, key);
  };

  return {
    backend: "local",
    async put(key, bytes) {
      const final = pathOf(key);
      const tmp = `${final}.${crypto.randomUUID()}${TMP_SUFFIX}`;
      try {
        await writeFile(tmp, bytes, { flush: true });
        await rename(tmp, final);
      } catch (err) {
        await rm(tmp, { force: true });
        throw err;
      }
    },
    async get(key) {
      // Bun.file(...).size is one synchronous stat: on the download path it served 43–56k req/s
      // where `await stat()` from node:fs/promises managed 15–21k. A missing file reads as 0 bytes,
      // and no stored image is empty.
      const file = Bun.file(pathOf(key));
      const size = file.size;
      return size > 0 ? { size, blob: file } : undefined;
    },
    async delete(key) {
      try {
        await unlink(pathOf(key));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      }
    },
    async exists(key) {
      return Bun.file(pathOf(key)).exists();
    },
    async list() {
      return (await readdir(root)).sort();
    },
  };
}
