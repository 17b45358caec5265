/**
 * A small chart of a stream's runs over time, as inline SVG built on the server: rows sent
 * per run as bars, lag after each successful run as a line. No chart library, no script; the
 * CSP allows it because it is markup, not a resource.
 */
import { duration, when } from './views.ts';

export interface ChartPoint {
  /** When the run started, ISO. */
  at: string;
  sent: number;
  /** Lag when the run ended (successful pulls), seconds. */
  lagSeconds: number | null;
  failed: boolean;
}

const W = 640;
const H = 160;
const PAD = { left: 44, right: 44, top: 12, bottom: 22 };

/** The chart's SVG markup; every text in it is a number or a time this module formats. */
export function runChart(points: ChartPoint[]): string {
  if (points.length === 0) return '<p class="muted">No runs yet.</p>';
  const innerW = W - PAD.left - PAD.right;
  const innerH = H - PAD.top - PAD.bottom;
  const maxSent = Math.max(1, ...points.map((p) => p.sent));
  const lags = points.map((p) => p.lagSeconds).filter((l): l is number => l !== null);
  const maxLag = Math.max(1, ...lags);
  const step = innerW / points.length;
  const x = (i: number) => PAD.left + i * step;
  const bars = points.map((p, i) => {
    const h = (p.sent / maxSent) * innerH;
    const fill = p.failed ? '#b42318' : '#93b4f5';
    return `<rect x="${(x(i) + step * 0.15).toFixed(1)}" y="${(PAD.top + innerH - h).toFixed(1)}" width="${(step * 0.7).toFixed(1)}" height="${Math.max(h, p.failed ? 2 : 0).toFixed(1)}" fill="${fill}"><title>${when(p.at)}: ${p.sent} sent${p.failed ? ' (failed)' : ''}</title></rect>`;
  }).join('');
  const line = points.map((p, i) => (p.lagSeconds === null ? undefined : `${(x(i) + step / 2).toFixed(1)},${(PAD.top + innerH - (p.lagSeconds / maxLag) * innerH).toFixed(1)}`))
    .filter((p) => p !== undefined);
  const path = line.length > 0 ? `<polyline points="${line.join(' ')}" fill="none" stroke="#9a5b00" stroke-width="2"/>` : '';
  const dots = line.map((pt) => { const [cx, cy] = pt!.split(','); return `<circle cx="${cx}" cy="${cy}" r="2.5" fill="#9a5b00"/>`; }).join('');
  const axis = `<line x1="${PAD.left}" y1="${PAD.top + innerH}" x2="${W - PAD.right}" y2="${PAD.top + innerH}" stroke="#b8c0cc"/>`;
  const labels = `<text x="4" y="${PAD.top + 8}">${maxSent} rows</text><text x="4" y="${PAD.top + innerH}">0</text>`
    + `<text x="${W - PAD.right + 4}" y="${PAD.top + 8}">${duration(maxLag)} lag</text>`
    + `<text x="${PAD.left}" y="${H - 6}">${when(points[0]!.at)}</text><text x="${W - PAD.right}" y="${H - 6}" text-anchor="end">${when(points.at(-1)!.at)}</text>`;
  return `<svg class="chart" role="img" aria-label="Rows sent per run (bars) and lag after each run (line), oldest left" viewBox="0 0 ${W} ${H}">`
    + `${axis}${bars}${path}${dots}${labels}</svg>`;
}
