import { Hono } from "hono";
import type { AppEnv } from "../app-env.ts";
import { imageNotFound } from "../errors.ts";
import { imageId } from "../images/routes.ts";
import { serveThumbnail } from "./serve.ts";

/** GET /api/v1/images/{id}/thumbnail: the 300 px JPEG, with the same caching and Range as /file. */
export const thumbnailRoutes = new Hono<AppEnv>().get("/:id/thumbnail", async (c) => {
  const id = imageId(c.req.param("id"));
  const response = await serveThumbnail(c.var.deps, c.req.raw, id);
  if (!response) throw imageNotFound(id);
  return response;
});
