// Confirmation before an action that changes things: `const confirm = useConfirm();
// if (await confirm({ title, body, action: "Revoke", danger: true })) ...`. One dialog for the
// app; the keyboard default is Cancel, so Enter on a stray focus never confirms a danger.
import { createContext, useCallback, useContext, useId, useRef, useState, type ReactNode } from "react";
import { Modal } from "./Modal";

export type ConfirmRequest = { title: string; body: ReactNode; action: string; danger?: boolean };

type Pending = ConfirmRequest & { resolve: (ok: boolean) => void };

const ConfirmContext = createContext<((r: ConfirmRequest) => Promise<boolean>) | null>(null);

export function ConfirmProvider({ children }: { children: ReactNode }) {
  const [pending, setPending] = useState<Pending | null>(null);
  const current = useRef<Pending | null>(null);
  const titleId = useId();
  const confirm = useCallback(
    (r: ConfirmRequest) =>
      new Promise<boolean>((resolve) => {
        current.current?.resolve(false);
        const p = { ...r, resolve };
        current.current = p;
        setPending(p);
      }),
    [],
  );
  const settle = (ok: boolean) => {
    current.current?.resolve(ok);
    current.current = null;
    setPending(null);
  };
  return (
    <ConfirmContext.Provider value={confirm}>
      {children}
      <Modal open={pending !== null} onClose={() => settle(false)} className="confirm" labelledBy={titleId} testId="confirm">
        {pending ? (
          <>
            <h2 id={titleId} className="panel-title">
              {pending.title}
            </h2>
            <div className="confirm-body">{pending.body}</div>
            <div className="confirm-actions">
              <button type="button" className="btn btn-ghost" autoFocus onClick={() => settle(false)} data-testid="confirm-cancel">
                Cancel
              </button>
              <button
                type="button"
                className={`btn ${pending.danger ? "btn-danger" : "btn-primary"}`}
                onClick={() => settle(true)}
                data-testid="confirm-ok"
              >
                {pending.action}
              </button>
            </div>
          </>
        ) : null}
      </Modal>
    </ConfirmContext.Provider>
  );
}

export function useConfirm(): (r: ConfirmRequest) => Promise<boolean> {
  const c = useContext(ConfirmContext);
  if (c === null) throw new Error("useConfirm outside ConfirmProvider");
  return c;
}
