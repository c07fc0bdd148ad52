// A detail drawer from the right. Screens open it from a route (`#/health/transitions/42`),
// so a drawer is a deep link and the browser's Back closes it.
import { useId, type ReactNode } from "react";
import { Modal } from "./Modal";

export function Drawer({
  open,
  title,
  onClose,
  children,
  testId = "drawer",
}: {
  open: boolean;
  title: ReactNode;
  onClose: () => void;
  children: ReactNode;
  testId?: string;
}) {
  const titleId = useId();
  return (
    <Modal open={open} onClose={onClose} className="drawer" labelledBy={titleId} testId={testId}>
      <header className="drawer-head">
        <h2 id={titleId} className="panel-title">
          {title}
        </h2>
        <button type="button" className="btn btn-ghost btn-icon" aria-label="Close" onClick={onClose} data-testid="drawer-close">
          ×
        </button>
      </header>
      <div className="drawer-body">{children}</div>
    </Modal>
  );
}
