import type { ReactNode } from 'react';

export interface Column<Row> {
  readonly header: string;
  readonly cell: (row: Row) => ReactNode;
  /** Right-aligned, tabular figures. */
  readonly numeric?: boolean;
  readonly testId?: string;
}

interface DataTableProps<Row> {
  /** Names the table and its scroll region. */
  readonly caption: string;
  readonly columns: readonly Column<Row>[];
  readonly rows: readonly Row[];
  readonly rowKey: (row: Row) => string;
  readonly rowTestId?: (row: Row) => string;
  readonly empty?: ReactNode;
  readonly testId?: string;
  /** Shows the caption above the table (else it is for screen readers only). */
  readonly showCaption?: boolean;
}

/**
 * A table in a focusable scroll region: on a phone the table scrolls sideways and keyboard users
 * can scroll it too.
 */
export function DataTable<Row>({ caption, columns, rows, rowKey, rowTestId, empty, testId, showCaption = false }: DataTableProps<Row>) {
  if (rows.length === 0 && empty) return <div className="empty">{empty}</div>;
  return (
    // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be reachable by keyboard
    <section className="table-scroll" aria-label={caption} tabIndex={0}>
      <table data-testid={testId}>
        <caption className={showCaption ? undefined : 'visually-hidden'}>{caption}</caption>
        <thead>
          <tr>
            {columns.map((column) => (
              <th key={column.header} scope="col" className={column.numeric ? 'numeric' : undefined}>
                {column.header}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={rowKey(row)} data-testid={rowTestId?.(row)}>
              {columns.map((column) => (
                <td key={column.header} className={column.numeric ? 'numeric' : undefined} data-testid={column.testId}>
                  {column.cell(row)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
