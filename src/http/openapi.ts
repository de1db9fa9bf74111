import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env.ts";
import { ERROR_STATUS, type ErrorCode } from "../errors.ts";
import { validationHook } from "./validate.ts";

/**
 * A router whose routes are declared with `createRoute`: the same zod schemas validate the
 * request, type the handler's responses and generate the OpenAPI document. Validation failures
 * go through `validationHook` (the INVALID_REQUEST envelope).
 */
export function createRouter(init: { strict?: boolean } = {}) {
  return new OpenAPIHono<AppEnv>({ ...init, defaultHook: validationHook });
}

const errorBody = (codes: readonly [ErrorCode, ...ErrorCode[]]) =>
  z.object({
    error: z.object({
      code: z.enum(codes),
      message: z.string().openapi({ description: "For people; may change between versions" }),
      details: z.record(z.string(), z.unknown()).openapi({ description: "Machine-readable facts about the error; the keys depend on the code" }),
    }),
  });

/** The error envelope with every code (registered as the `Error` component). */
export const ErrorEnvelope = errorBody(Object.keys(ERROR_STATUS) as [ErrorCode, ...ErrorCode[]]).openapi("Error", {
  example: { error: { code: "IMAGE_NOT_FOUND", message: "Image with ID '…' not found", details: {} } },
});

/**
 * `security` of routes that need a bearer token or API key: `bearer` (paste a token or key) or
 * `password` (Swagger UI signs in through /api/v1/auth/token and sends the token it gets).
 * Declared as a plain array type: a literal `{}` in it defeats the handlers' type inference.
 */
export const bearer: Array<Record<string, string[]>> = [{ bearer: [] }, { password: [] }];
/** `security` of routes that take a bearer token or API key but also serve anonymous requests. */
export const optionalBearer: Array<Record<string, string[]>> = [{}, ...bearer];

/** Sent with every response, including errors; echoes a well-formed `X-Request-Id` from the request. */
export const requestIdHeader = z.object({
  "X-Request-Id": z.string().openapi({ description: "The request's id, also in the access log and in INTERNAL_ERROR details" }),
});

// Every 401 carries the RFC 6750 challenge.
const unauthorizedHeaders = requestIdHeader.extend({
  "WWW-Authenticate": z.string().openapi({ description: '`Bearer`, or `Bearer error="invalid_token"` for credentials that are not (or no longer) valid', example: "Bearer" }),
});

type ErrorResponse = {
  description: string;
  headers: typeof requestIdHeader | typeof unauthorizedHeaders;
  content: { "application/json": { schema: ReturnType<typeof errorBody> } };
};

/**
 * Error responses of a route, grouped by status, each naming exactly the codes it can carry.
 * INTERNAL_ERROR is always possible.
 */
export function errorResponses<const C extends ErrorCode[]>(...codes: C): { [S in (typeof ERROR_STATUS)[C[number] | "INTERNAL_ERROR"]]: ErrorResponse } {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of new Set<ErrorCode>([...codes, "INTERNAL_ERROR"])) {
    const status = ERROR_STATUS[code];
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const responses: Record<number, ErrorResponse> = {};
  for (const [status, list] of byStatus) {
    responses[status] = {
      description: `Error: ${list.join(", ")}`,
      headers: status === 401 ? unauthorizedHeaders : requestIdHeader,
      content: { "application/json": { schema: errorBody(list as [ErrorCode, ...ErrorCode[]]) } },
    };
  }
  return responses as { [S in (typeof ERROR_STATUS)[C[number] | "INTERNAL_ERROR"]]: ErrorResponse };
}
