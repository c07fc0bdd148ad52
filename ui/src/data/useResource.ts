// Loads one thing from the node and keeps it fresh: on mount, when `key` changes, every
// `intervalMs` (if given), and on `reload()`. The last good value stays visible while a refresh
// fails, so a node restart does not blank the screen.
import { useCallback, useEffect, useRef, useState } from "react";

export type Resource<T> = {
  data: T | null;
  error: unknown;
  loading: boolean;
  /** When the last successful load finished (ms since epoch). */
  loadedAt: number | null;
  reload: () => void;
};

export function useResource<T>(
  load: () => Promise<T>,
  key: unknown,
  intervalMs?: number,
): Resource<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const [loadedAt, setLoadedAt] = useState<number | null>(null);
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  useEffect(() => {
    let cancelled = false;
    setLoading(true);
    loadRef.current().then(
      (value) => {
        if (cancelled) return;
        setData(value);
        setError(null);
        setLoadedAt(Date.now());
        setLoading(false);
      },
      (err: unknown) => {
        if (cancelled) return;
        setError(err);
        setLoading(false);
      },
    );
    return () => {
      cancelled = true;
    };
  }, [key, tick]);

  useEffect(() => {
    if (intervalMs === undefined) return undefined;
    const id = setInterval(() => setTick((t) => t + 1), intervalMs);
    return () => clearInterval(id);
  }, [intervalMs, key]);

  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, loadedAt, reload };
}
