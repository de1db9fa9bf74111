import { imageNotFound } from "../errors.ts";
import { createRouter } from "../http/openapi.ts";
import { imageId } from "../images/routes.ts";
import { thumbnailRoute } from "./schemas.ts";
import { serveThumbnail } from "./serve.ts";

/** GET /api/v1/images/{id}/thumbnail: the 300 px JPEG, with the same caching and Range as /file. */
export const thumbnailRoutes = createRouter().openapi(thumbnailRoute, async (c) => {
  const id = imageId(c.req.valid("param").id);
  const response = await serveThumbnail(c.var.deps, c.req.raw, id);
  if (!response) throw imageNotFound(id);
  return response as never;
});
