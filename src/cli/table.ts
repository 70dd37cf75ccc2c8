// Aligned plain-text tables, as kubectl prints them; colour only on a terminal
// (and never with NO_COLOR set).

const COLOURS = { green: 32, yellow: 33, red: 31, grey: 90 } as const;
export type Colour = keyof typeof COLOURS;

export function useColour(stream: NodeJS.WriteStream): boolean {
  return stream.isTTY && !process.env['NO_COLOR'];
}

/** Renders rows under headers; `colourOf` may colour a cell (widths ignore the escape codes). */
export function renderTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
  colourOf?: (column: number, value: string) => Colour | undefined,
): string {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[], colour: boolean): string =>
    cells
      .map((cell, i) => {
        const padded = i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0);
        const code = colour ? colourOf?.(i, cell) : undefined;
        return code ? `\u001b[${COLOURS[code]}m${padded}\u001b[0m` : padded;
      })
      .join('   ')
      .trimEnd();
  return [line(headers, false), ...rows.map((row) => line(row, true))].join('\n') + '\n';
}
