// A uPlot chart: x = step, one or more series; built-in drag-to-zoom on x and double-click reset.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export const PALETTE = [
  '#2563eb',
  '#dc2626',
  '#16a34a',
  '#d97706',
  '#7c3aed',
  '#0891b2',
  '#db2777',
  '#65a30d',
  '#475569',
  '#ea580c',
];

export interface ChartSeries {
  label: string;
  color?: string;
  dash?: boolean;
  width?: number;
}

export interface ChartProps {
  data: (number | null)[][]; // [xs, ys1, ys2, …]
  series: ChartSeries[];
  testid: string;
  /** data-key attribute and the performance mark 'ferry:chart-drawn:<key>'. */
  markKey?: string;
  attrs?: Record<string, string | number>;
  height?: number;
  xLabel?: string;
  legend?: boolean;
  /** Bump when the arrays in `data` were changed in place. */
  rev?: number;
}

function extent(data: (number | null)[][]): [number, number] | null {
  const xs = data[0] || [];
  return xs.length ? [xs[0] as number, xs[xs.length - 1] as number] : null;
}

function countPoints(data: (number | null)[][]): number {
  return data.length > 0 ? data[0].length : 0;
}

export function Chart(props: ChartProps) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const drawnOnce = useRef(false);
  const lastExtent = useRef<[number, number] | null>(null);
  const lastData = useRef<unknown>(null);
  const seriesSig = props.series.map((s) => s.label + s.color + s.dash).join('|');

  // (Re)create when the set of series changes.
  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const width = Math.max(200, el.clientWidth || 600);
    const opts: uPlot.Options = {
      width,
      height: props.height ?? 220,
      legend: { show: props.legend !== false, live: true },
      cursor: { drag: { x: true, y: false, setScale: true } },
      scales: { x: { time: false } },
      axes: [
        { label: props.xLabel ?? 'step', labelSize: 16, size: 36, stroke: '#555', grid: { stroke: '#eee' } },
        { size: 60, stroke: '#555', grid: { stroke: '#eee' } },
      ],
      series: [
        { label: props.xLabel ?? 'step' },
        ...props.series.map((s, i) => ({
          label: s.label,
          stroke: s.color || PALETTE[i % PALETTE.length],
          width: s.width ?? 1.5,
          dash: s.dash ? [4, 4] : undefined,
          spanGaps: true,
          points: { show: (u: uPlot) => (u.data[0]?.length ?? 0) < 60 } as any,
        })),
      ],
      hooks: {
        draw: [
          (u: uPlot) => {
            const n = countPoints(u.data as any);
            el.setAttribute('data-points', String(n));
            if (n > 0 && !drawnOnce.current) {
              drawnOnce.current = true;
              el.setAttribute('data-drawn', '1');
              if (props.markKey !== undefined) {
                try {
                  performance.mark('ferry:chart-drawn:' + props.markKey);
                } catch {
                  /* ignore */
                }
              }
            }
          },
        ],
      },
    };
    el.setAttribute('data-points', '0');
    const u = new uPlot(opts, props.data as uPlot.AlignedData, el);
    plot.current = u;
    lastData.current = props.rev ?? props.data;
    lastExtent.current = extent(props.data);
    const ro = new ResizeObserver(() => {
      const w = el.clientWidth;
      if (w > 0 && Math.abs(w - u.width) > 2) u.setSize({ width: w, height: props.height ?? 220 });
    });
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [seriesSig, props.height]);

  // New data: keep the user's zoom unless the view showed everything.
  useEffect(() => {
    const u = plot.current;
    const id = props.rev ?? props.data;
    if (!u || id === lastData.current) return;
    lastData.current = id;
    const prev = lastExtent.current;
    const sx = u.scales.x;
    const full =
      prev === null || sx.min == null || sx.max == null || ((sx.min as number) <= prev[0] && (sx.max as number) >= prev[1]);
    lastExtent.current = extent(props.data);
    u.setData(props.data as uPlot.AlignedData, full);
    if (!full) u.redraw(false, true);
  }, [props.rev ?? props.data]);

  const attrs: Record<string, string | number> = { ...(props.attrs || {}) };
  if (props.markKey !== undefined) attrs['data-key'] = props.markKey;
  return <div ref={host} class="chart" data-testid={props.testid} {...attrs} />;
}
