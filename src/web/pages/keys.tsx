import type { Context } from "hono";
import type { AppEnv } from "../../app-env.ts";
import { SCOPES, type ApiKeyInfo } from "../../accounts/api-keys.ts";
import { formatDate } from "../components.tsx";
import { Layout, pageContext, pageScript, type PageContext } from "../layout.tsx";
import { sendPage } from "../render.ts";
import type { Session } from "../session.ts";

export const SCOPE_WORDS: Record<(typeof SCOPES)[number], string> = {
  upload: "upload and tag images",
  delete: "delete and untag images",
  read: "list my images",
};

/**
 * One key in the list. The page's <template> holds an empty one that keys.client.js clones for a
 * key it has just made.
 */
const KeyItem = ({ k }: { k?: ApiKeyInfo }) => (
  <li class="key-item" data-key-id={k?.id}>
    <div class="key-facts">
      <p class="key-name">{k?.name}</p>
      <p class="key-meta">
        <code class="key-prefix">{k ? `${k.prefix}…` : ""}</code>
        <span class="key-scopes">{k ? k.scopes.join(", ") : ""}</span>
        <span class="key-created">{k ? `made ${formatDate(k.createdAt.toISOString())}` : ""}</span>
      </p>
    </div>
    <div class="key-actions" data-while-idle>
      <button type="button" class="button small quiet-danger" data-revoke aria-label={k ? `Revoke ${k.name}` : undefined}>
        Revoke
      </button>
    </div>
    <div class="key-confirm" hidden>
      <span>Scripts using it stop working.</span>
      <button type="button" class="button small danger" data-confirm>
        Revoke
      </button>
      <button type="button" class="button small" data-cancel>
        Keep
      </button>
    </div>
    <p class="key-status" role="status"></p>
  </li>
);

function NewKeyForm({ ctx }: { ctx: PageContext }) {
  return (
    <form id="key-form" class="key-form" data-api={`${ctx.base}/api/v1/api-keys`} novalidate>
      <div class="field">
        <label for="key-name">Name</label>
        <input id="key-name" name="name" type="text" required maxlength={100} autocomplete="off" aria-describedby="key-name-hint key-error" />
        <p class="hint" id="key-name-hint">
          Where it will be used, to tell keys apart: “ShareX on my laptop”.
        </p>
      </div>
      <fieldset class="scopes">
        <legend>It may</legend>
        {SCOPES.map((s) => (
          <label class="check">
            <input type="checkbox" name="scopes" value={s} checked={s === "upload"} />
            <span>
              <strong>{s}</strong>: {SCOPE_WORDS[s]}
            </span>
          </label>
        ))}
      </fieldset>
      <p class="form-error-text" id="key-error" role="alert"></p>
      <div class="actions">
        <button type="submit" class="button primary">
          Create key
        </button>
      </div>
    </form>
  );
}

/** `/keys`: the signed-in user's API keys; a new one is shown once; revoke. */
export async function renderKeysPage(c: Context<AppEnv>, session: Session): Promise<Response> {
  const [keys, ctx] = await Promise.all([c.var.deps.accounts.apiKeys.list(session.user.id), pageContext(c)]);
  // Newest first: the one just made (and the tool pages' downloads) on top.
  const shown = [...keys].reverse();
  return sendPage(
    c,
    <Layout ctx={ctx} title="API keys" current="keys" script={await pageScript(ctx, "keys.js")}>
      <h1>API keys</h1>
      <p class="lead">
        Keys let ShareX and scripts upload as you, without your password. Each may only do what you allow, and you can revoke it at any
        time. The <a href={`${ctx.base}/tools`}>ShareX &amp; scripts</a> page makes a key for each file it hands out.
      </p>
      <div id="new-key" class="new-key" hidden tabindex={-1}>
        <div class="link-field">
          <label for="new-key-value">Your new key</label>
          <div class="copy-row">
            <input id="new-key-value" type="text" readonly spellcheck={false} autocomplete="off" aria-describedby="new-key-hint" />
            <button type="button" class="button copy" aria-label="Copy the new key">
              Copy
            </button>
          </div>
          <p class="hint" id="new-key-hint">
            Copy it now: it is shown only this once (chitram keeps only a hash of it). Send it as <code>Authorization: Bearer …</code>.
          </p>
        </div>
      </div>
      <div class="keys-layout">
        <section class="panel" aria-labelledby="new-key-title">
          <h2 id="new-key-title">New key</h2>
          <NewKeyForm ctx={ctx} />
          <noscript>
            <p class="notice">Making and revoking keys on this page needs JavaScript.</p>
          </noscript>
        </section>
        <section class="panel" aria-labelledby="keys-title">
          <h2 id="keys-title">Your keys</h2>
          <ul id="key-list" class="key-list" data-api={`${ctx.base}/api/v1/api-keys`}>
            {shown.map((k) => (
              <KeyItem k={k} />
            ))}
          </ul>
          <p id="keys-empty" class="empty" hidden={keys.length > 0}>
            No keys yet.
          </p>
        </section>
      </div>
      <template id="key-template">
        <KeyItem />
      </template>
    </Layout>,
  );
}
