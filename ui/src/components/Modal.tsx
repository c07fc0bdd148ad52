// The one modal primitive: a native <dialog> opened with showModal(), so focus is trapped,
// Escape closes it and the rest of the page is inert, without a library. `Drawer` (a panel
// sliding from the right, for details) and `ConfirmDialog` are built on it.
import { useEffect, useRef, type ReactNode } from "react";

export function Modal({
  open,
  onClose,
  className,
  labelledBy,
  children,
  testId,
}: {
  open: boolean;
  onClose: () => void;
  className: string;
  labelledBy: string;
  children: ReactNode;
  testId?: string;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  // Whether the owner still wants it open: a dialog closed because `open` went false (its
  // route changed, another drawer opened) must not call `onClose`, which would navigate away.
  const wanted = useRef(open);
  useEffect(() => {
    wanted.current = open;
  }, [open]);
  useEffect(() => {
    const d = ref.current;
    if (d === null) return;
    // happy-dom (unit tests) has no showModal; the open attribute is the same to a test.
    if (open && !d.open) {
      if (typeof d.showModal === "function") d.showModal();
      else d.setAttribute("open", "");
    } else if (!open && d.open) d.close();
  }, [open]);
  return (
    <dialog
      ref={ref}
      className={className}
      aria-labelledby={labelledBy}
      data-testid={testId}
      onClose={() => {
        if (wanted.current) onClose();
      }}
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
      onClick={(e) => {
        // A click on the backdrop (the dialog element itself, outside its content) closes.
        if (e.target === e.currentTarget) onClose();
      }}
    >
      {open ? children : null}
    </dialog>
  );
}
