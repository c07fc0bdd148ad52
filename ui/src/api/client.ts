// The typed API client: openapi-fetch over the `Backend`, typed by the paths and schemas
// generated from the node's OpenAPI document (`generated/api.ts`, `make bindings`). Screens
// never build URLs or cast bodies: a path, its parameters, its body and its answer are all
// checked against the document at compile time; the document is checked against the running
// node by schemathesis in `make test`.
import createClient, { type Client } from "openapi-fetch";
import { ApiError, apiErrorFromBody } from "../backend/apiError";
import type { Backend } from "../backend/backend";
import type { paths } from "../generated/api";

export type Api = Client<paths>;

export function createApi(backend: Backend): Api {
  return createClient<paths>({ baseUrl: backend.baseUrl, fetch: (request) => backend.fetch(request) });
}

/** What an openapi-fetch call resolves with: the typed body of a success or of an error. */
type Answer<D, E> =
  | { data: D; error?: never; response: Response }
  | { data?: never; error: E; response: Response };

/**
 * Awaits a typed call; resolves with its success body (`undefined` for a 204) and throws an
 * `ApiError` (with the node's stable `code`) for an error status or a body that is not JSON.
 */
export async function ok<D, E>(call: Promise<Answer<D, E>>): Promise<D> {
  let answer: Answer<D, E>;
  try {
    answer = await call;
  } catch (err) {
    if (err instanceof ApiError) throw err;
    // openapi-fetch parses 2xx bodies as JSON; a body that is not JSON lands here.
    throw new ApiError(0, "invalid_response", "The node sent a response this UI does not understand.");
  }
  const { response } = answer;
  if (answer.error !== undefined || !response.ok) {
    throw apiErrorFromBody(response.status, answer.error, response.statusText);
  }
  // A 2xx without a body (204) has no data; the operation's type says so (`never`).
  return answer.data as D;
}
