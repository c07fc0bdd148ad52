// The data table every list screen uses: sortable columns (click a header; aria-sort says
// which), a text filter (`/` focuses it), client-side pages, and the states a list can be in
// (loading, failed with its code, empty, nothing matching the filter). Lists the node pages
// with cursors pass `more` to fetch the next page into the same table.
import { useMemo, useState, type ReactNode } from "react";
import { ErrorNote, TableStateRow } from "./Panel";

export type Column<R> = {
  id: string;
  header: ReactNode;
  cell: (row: R) => ReactNode;
  /** Makes the column sortable by this value. */
  sortValue?: (row: R) => string | number | null;
  numeric?: boolean;
};

export type SortState = { column: string; dir: "asc" | "desc" } | null;

export type DataTableProps<R> = {
  columns: Column<R>[];
  /** Undefined while the first load runs. */
  rows: readonly R[] | undefined;
  rowKey: (row: R) => string;
  error?: unknown;
  onRetry?: () => void;
  /** The text a row is found by; shows the filter box when given. */
  filterText?: (row: R) => string;
  filterLabel?: string;
  pageSize?: number;
  initialSort?: SortState;
  empty: ReactNode;
  onRowClick?: (row: R) => void;
  rowAttrs?: (row: R) => Record<string, string | undefined>;
  /** The node has more rows than those loaded (cursor pagination). */
  more?: { hasMore: boolean; loading: boolean; load: () => void };
  testId?: string;
};

function compare(a: string | number | null, b: string | number | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  if (typeof a === "number" && typeof b === "number") return a - b;
  return String(a).localeCompare(String(b), undefined, { numeric: true });
}

/** Pure: the rows shown, given the filter and sort (exported for tests). */
export function visibleRows<R>(
  rows: readonly R[],
  columns: readonly Column<R>[],
  query: string,
  filterText: ((row: R) => string) | undefined,
  sort: SortState,
): R[] {
  const q = query.trim().toLowerCase();
  let out = q && filterText ? rows.filter((r) => filterText(r).toLowerCase().includes(q)) : rows.slice();
  const col = sort ? columns.find((c) => c.id === sort.column) : undefined;
  const key = col?.sortValue;
  if (sort && key) {
    const sign = sort.dir === "asc" ? 1 : -1;
    // Stable: ties keep the node's order.
    out = out
      .map((r, i) => ({ r, i, k: key(r) }))
      .sort((x, y) => sign * compare(x.k, y.k) || x.i - y.i)
      .map((x) => x.r);
  }
  return out;
}

function nextSort(cur: SortState, column: string): SortState {
  if (cur?.column !== column) return { column, dir: "asc" };
  return cur.dir === "asc" ? { column, dir: "desc" } : null;
}

export function DataTable<R>(props: DataTableProps<R>) {
  const { columns, rows, rowKey, filterText, pageSize = 25, empty, onRowClick, rowAttrs, more, testId } = props;
  const [query, setQuery] = useState("");
  const [sort, setSort] = useState<SortState>(props.initialSort ?? null);
  const [page, setPage] = useState(0);
  const shown = useMemo(
    () => (rows ? visibleRows(rows, columns, query, filterText, sort) : []),
    [rows, columns, query, filterText, sort],
  );
  const pages = Math.max(1, Math.ceil(shown.length / pageSize));
  const current = Math.min(page, pages - 1);
  const slice = shown.slice(current * pageSize, (current + 1) * pageSize);
  const cols = columns.length;

  return (
    <div className="data-table" data-testid={testId}>
      {filterText ? (
        <div className="table-tools">
          <input
            type="search"
            className="input input-filter"
            placeholder={props.filterLabel ?? "Filter"}
            aria-label={props.filterLabel ?? "Filter"}
            value={query}
            data-shortcut-filter=""
            onChange={(e) => {
              setQuery(e.target.value);
              setPage(0);
            }}
          />
          {rows ? (
            <span className="muted small" data-testid="table-count">
              {shown.length === rows.length ? `${rows.length} rows` : `${shown.length} of ${rows.length} rows`}
            </span>
          ) : null}
        </div>
      ) : null}
      {props.error && rows ? <ErrorNote error={props.error} {...(props.onRetry ? { onRetry: props.onRetry } : {})} /> : null}
      <table className="table">
        <thead>
          <tr>
            {columns.map((c) => {
              const dir = sort?.column === c.id ? sort.dir : null;
              return (
                <th
                  key={c.id}
                  className={c.numeric ? "num" : undefined}
                  aria-sort={dir === "asc" ? "ascending" : dir === "desc" ? "descending" : c.sortValue ? "none" : undefined}
                >
                  {c.sortValue ? (
                    <button
                      type="button"
                      className="th-sort"
                      data-testid={`sort-${c.id}`}
                      onClick={() => {
                        setSort((s) => nextSort(s, c.id));
                        setPage(0);
                      }}
                    >
                      {c.header}
                      <span className="sort-mark" aria-hidden="true">
                        {dir === "asc" ? "▲" : dir === "desc" ? "▼" : "↕"}
                      </span>
                    </button>
                  ) : (
                    c.header
                  )}
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody>
          {slice.map((r) => (
            <tr
              key={rowKey(r)}
              {...(rowAttrs ? rowAttrs(r) : {})}
              className={onRowClick ? "row-link" : undefined}
              tabIndex={onRowClick ? 0 : undefined}
              onClick={onRowClick ? () => onRowClick(r) : undefined}
              onKeyDown={
                onRowClick
                  ? (e) => {
                      if (e.key === "Enter") onRowClick(r);
                    }
                  : undefined
              }
            >
              {columns.map((c) => (
                <td key={c.id} className={c.numeric ? "num mono" : undefined}>
                  {c.cell(r)}
                </td>
              ))}
            </tr>
          ))}
          {!rows && props.error ? (
            <tr>
              <td colSpan={cols}>
                <ErrorNote error={props.error} {...(props.onRetry ? { onRetry: props.onRetry } : {})} />
              </td>
            </tr>
          ) : null}
          {!rows && !props.error ? <TableStateRow cols={cols} /> : null}
          {rows && rows.length === 0 ? <TableStateRow cols={cols}>{empty}</TableStateRow> : null}
          {rows && rows.length > 0 && shown.length === 0 ? (
            <TableStateRow cols={cols}>Nothing matches “{query}”.</TableStateRow>
          ) : null}
        </tbody>
      </table>
      {pages > 1 || more?.hasMore ? (
        <div className="table-pager">
          <button type="button" className="btn btn-ghost" disabled={current === 0} onClick={() => setPage(current - 1)} data-testid="page-prev">
            Previous
          </button>
          <span className="muted small" data-testid="page-label">
            {shown.length === 0 ? 0 : current * pageSize + 1}–{Math.min(shown.length, (current + 1) * pageSize)} of {shown.length}
            {more?.hasMore ? "+" : ""}
          </span>
          <button
            type="button"
            className="btn btn-ghost"
            disabled={current >= pages - 1 && !more?.hasMore}
            onClick={() => {
              if (current < pages - 1) setPage(current + 1);
              else more?.load();
            }}
            data-testid="page-next"
          >
            {more?.loading ? "Loading…" : "Next"}
          </button>
        </div>
      ) : null}
    </div>
  );
}
