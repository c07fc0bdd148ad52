// Toasts: short notices at the bottom right. Errors carry the node's stable code and request
// id (what a bug report needs) and stay until dismissed; other notices leave after 5 s.
// Failed mutations reach here on their own (data/queryClient.ts).
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { ApiError, describeError } from "../backend/apiError";
import { Icon } from "./Icon";

export type Toast = {
  id: number;
  tone: "error" | "info" | "success";
  title: string;
  message: string | null;
  code: string | null;
  requestId: string | null;
};

export type ToastInput = Omit<Toast, "id" | "message" | "code" | "requestId"> &
  Partial<Pick<Toast, "message" | "code" | "requestId">>;

type Toasts = { push: (t: ToastInput) => void; error: (err: unknown, title?: string) => void };

const ToastContext = createContext<Toasts | null>(null);

const INFO_MS = 5000;
/** At most this many on screen; the oldest go first. */
const MAX = 4;

/** A toast for an error: what happened in words, and the code the UI switched on. */
export function toastForError(err: unknown, title = "Something went wrong"): ToastInput {
  return {
    tone: "error",
    title,
    message: describeError(err),
    code: err instanceof ApiError ? err.code : null,
    requestId: err instanceof ApiError ? err.requestId : null,
  };
}

export function ToastProvider({ children }: { children: ReactNode }) {
  const [toasts, setToasts] = useState<Toast[]>([]);
  const push = useCallback((t: ToastInput) => {
    setToasts((cur) => {
      const id = (cur.at(-1)?.id ?? 0) + 1;
      const next: Toast = { message: null, code: null, requestId: null, ...t, id };
      return [...cur, next].slice(-MAX);
    });
  }, []);
  const api = useMemo<Toasts>(() => ({ push, error: (err, title) => push(toastForError(err, title)) }), [push]);
  const dismiss = (id: number) => setToasts((cur) => cur.filter((t) => t.id !== id));
  return (
    <ToastContext.Provider value={api}>
      {children}
      <ol className="toasts" aria-live="polite" data-testid="toasts">
        {toasts.map((t) => (
          <ToastItem key={t.id} toast={t} onDismiss={() => dismiss(t.id)} />
        ))}
      </ol>
    </ToastContext.Provider>
  );
}

function ToastItem({ toast, onDismiss }: { toast: Toast; onDismiss: () => void }) {
  useEffect(() => {
    if (toast.tone === "error") return undefined;
    const timer = setTimeout(onDismiss, INFO_MS);
    return () => clearTimeout(timer);
  }, [toast.tone, onDismiss]);
  return (
    <li
      className={`toast toast-${toast.tone}`}
      role={toast.tone === "error" ? "alert" : "status"}
      data-testid="toast"
      data-code={toast.code ?? undefined}
    >
      <Icon name={toast.tone === "error" ? "alert" : "info"} />
      <div className="toast-body">
        <strong>{toast.title}</strong>
        {toast.message ? <div>{toast.message}</div> : null}
        {toast.code ? (
          <div className="muted small mono">
            code: {toast.code}
            {toast.requestId ? ` · request ${toast.requestId}` : ""}
          </div>
        ) : null}
      </div>
      <button type="button" className="btn btn-ghost btn-icon" aria-label="Dismiss" onClick={onDismiss}>
        ×
      </button>
    </li>
  );
}

export function useToasts(): Toasts {
  const t = useContext(ToastContext);
  if (t === null) throw new Error("useToasts outside ToastProvider");
  return t;
}
