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

/** Builds an `ApiError` from a non-2xx response body text (ApiErrorBody when the node produced it). */
export function apiErrorFromResponse(status: number, bodyText: string, statusText = ""): ApiError {
  let parsed: unknown;
  try {
    parsed = bodyText.length > 0 ? JSON.parse(bodyText) : null;
  } catch {
    parsed = bodyText;
  }
  return apiErrorFromBody(status, parsed, statusText);
}

/**
 * Builds an `ApiError` from a non-2xx body already parsed (JSON when it was JSON, else its
 * text, as the typed client hands it over).
 */
export function apiErrorFromBody(status: number, parsed: unknown, statusText = ""): ApiError {
  const e = isRecord(parsed) && isRecord(parsed.error) ? parsed.error : null;
  if (e !== null && typeof e.code === "string") {
    const message = typeof e.message === "string" ? e.message : `HTTP ${status}`;
    const requestId = typeof e.request_id === "string" ? e.request_id : null;
    return new ApiError(status, e.code, message, requestId, parsed);
  }
  const snippet = typeof parsed === "string" ? parsed.trim().slice(0, 200) : "";
  const message = snippet || statusText || `HTTP ${status}`;
  return new ApiError(status, `http_${status}`, message, null, typeof parsed === "string" ? null : parsed);
}

/** Wraps a transport failure (fetch rejected, IPC failed) into an `ApiError`. */
export function transportError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  const name = isRecord(err) || err instanceof Error ? err.name : undefined;
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
