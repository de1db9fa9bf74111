import { zValidator } from "@hono/zod-validator";
import type { ValidationTargets } from "hono";
import type { z } from "zod";
import { ApiError } from "../errors.ts";

/** zod-validator whose failures are our INVALID_REQUEST envelope, naming each bad field. */
export const validate = <T extends z.ZodType, Target extends keyof ValidationTargets>(target: Target, schema: T) =>
  zValidator(target, schema, (result) => {
    if (!result.success) {
      const fields = result.error.issues.map((i) => ({ field: i.path.join(".") || target, message: i.message }));
      throw new ApiError("INVALID_REQUEST", `Invalid ${target}: ${fields.map((f) => `${f.field} ${f.message}`).join("; ")}`, {
        location: target,
        fields,
      });
    }
  });
