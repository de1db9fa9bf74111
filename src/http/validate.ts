import type { ValidationTargets } from "hono";
import type { z } from "zod";
import { ApiError } from "../errors.ts";

/**
 * The validation hook of every route (OpenAPIHono's `defaultHook`): a failure is our
 * INVALID_REQUEST envelope naming each bad field, never zod-validator's default body.
 */
export function validationHook(result: { target: keyof ValidationTargets } & ({ success: true } | { success: false; error: z.ZodError })) {
  if (result.success) return;
  const { target } = result;
  const fields = result.error.issues.map((i) => ({ field: i.path.join(".") || target, message: i.message }));
  throw new ApiError("INVALID_REQUEST", `Invalid ${target}: ${fields.map((f) => `${f.field} ${f.message}`).join("; ")}`, {
    location: target,
    fields,
  });
}
