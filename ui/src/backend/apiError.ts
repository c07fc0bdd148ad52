// `ApiError`: the one error type a `Backend` throws.
//
// The UI switches on `code` (a stable string from the node, e.g. `unauthorized`), never on
// `message`. Failures that never reached the node get UI-side codes: `unreachable`, `timeout`,
// `invalid_response`, `ipc_error`.
export class ApiError extends Error {
  override readonly name = "ApiError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId: string | null = null,
    /** The parsed body when it was JSON (some endpoints, like /health, answer 503 with data). */
    readonly body: unknown = null,
  ) {
    super(message);
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Builds an `ApiError` from a non-2xx response body (ApiErrorBody when the node produced it). */
export function apiErrorFromResponse(status: number, bodyText: string, statusText = ""): ApiError {
  let parsed: unknown = null;
  try {
    parsed = bodyText.length > 0 ? JSON.parse(bodyText) : null;
  } catch {
    parsed = null;
  }
  const e = isRecord(parsed) && isRecord(parsed.error) ? parsed.error : null;
  if (e !== null && typeof e.code === "string") {
    const message = typeof e.message === "string" ? e.message : `HTTP ${status}`;
    const requestId = typeof e.request_id === "string" ? e.request_id : null;
    return new ApiError(status, e.code, message, requestId, parsed);
  }
  const snippet = bodyText.trim().slice(0, 200);
  const message = snippet || statusText || `HTTP ${status}`;
  return new ApiError(status, `http_${status}`, message, null, parsed);
}

/** Parses a 2xx body; an empty body is `undefined`. */
export function parseSuccessBody<T>(status: number, bodyText: string): T {
  if (bodyText.trim().length === 0) return undefined as T;
  try {
    return JSON.parse(bodyText) as T;
  } catch {
    throw new ApiError(status, "invalid_response", "The node answered with something that is not JSON.");
  }
}

/** Wraps a transport failure (fetch rejected, IPC failed) into an `ApiError`. */
export function transportError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  const name = isRecord(err) || err instanceof Error ? (err as { name?: unknown }).name : undefined;
  if (name === "TimeoutError" || name === "AbortError") {
    return new ApiError(0, "timeout", "The node did not answer in time.");
  }
  const detail = err instanceof Error ? err.message : String(err);
  return new ApiError(0, "unreachable", `Cannot reach the node (${detail}).`);
}

/** A sentence for people; chosen by `code`, falling back to the node's message. */
export function describeError(err: unknown): string {
  if (!(err instanceof ApiError)) return err instanceof Error ? err.message : String(err);
  switch (err.code) {
    case "unauthorized":
      return "The node did not accept this token.";
    case "unreachable":
      return "Cannot reach the node. It may be restarting; this view retries by itself.";
    case "timeout":
      return "The node did not answer in time.";
    case "invalid_response":
      return "The node sent a response this UI does not understand.";
    default:
      return err.message;
  }
}
