import type { Context } from "hono";
import type { AppEnv } from "../../app-env.ts";
import { ApiError } from "../../errors.ts";
import { Layout, pageContext } from "../layout.tsx";
import { sendPage } from "../render.ts";

type PageStatus = 400 | 401 | 403 | 404 | 405 | 429 | 500 | 503;

const TITLES: Record<PageStatus, string> = {
  400: "That request did not make sense",
  401: "Please sign in",
  403: "Not allowed",
  404: "Not found",
  405: "Not allowed here",
  429: "Too many requests",
  500: "Something went wrong",
  503: "Busy or down for a moment",
};

/** An error as a page, in words: the title for its status, the API error's message, what to do next. */
export async function renderErrorPage(c: Context<AppEnv>, err: ApiError): Promise<Response> {
  const status = (err.status in TITLES ? err.status : 500) as PageStatus;
  const message =
    err.code === "IMAGE_NOT_FOUND"
      ? "There is no image at this address. It may have been deleted, or the link is incomplete."
      : err.code === "NOT_FOUND"
        ? "There is no page at this address."
        : err.message;
  let ctx;
  try {
    ctx = await pageContext(c);
  } catch {
    // The session lookup itself may be what failed (database down): render for a visitor.
    c.set("session", null);
    ctx = await pageContext(c);
  }
  for (const [k, v] of Object.entries(err.headers)) c.header(k, v);
  return sendPage(
    c,
    <Layout ctx={ctx} title={TITLES[status]}>
      <div class="error-page">
        <h1>{TITLES[status]}</h1>
        <p>{message}</p>
        {status === 500 ? <p class="hint">Reference for the operator: {c.var.requestId}</p> : null}
        {status === 503 ? <p>Try again in a few seconds.</p> : null}
        <p>
          <a href={`${ctx.base}/`}>Go to the upload page</a>
        </p>
      </div>
    </Layout>,
    status,
  );
}
