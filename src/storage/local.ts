import { mkdirSync } from "node:fs";
import { readdir, rename, rm, stat, unlink, writeFile } from "node:fs/promises";
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
      const file = Bun.file(pathOf(key));
      try {
        const s = await stat(pathOf(key));
        return { size: s.size, blob: file };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
        throw err;
      }
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
