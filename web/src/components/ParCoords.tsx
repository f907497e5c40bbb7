// Parallel coordinates: one vertical axis per sweep parameter plus one for the primary metric.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { axisTicks, makeAxis, metricGoodness, rampColor, stoppedByPolicy, type Axis } from '../lib/parcoords';
import { formatMetric } from '../lib/format';
import type { SweepTrial } from '../types';

export function ParCoords({
  trials,
  params,
  metricName,
  goal,
}: {
  trials: SweepTrial[];
  params: { name: string; expression: string }[];
  metricName: string;
  goal: string;
}) {
  const [hover, setHover] = useState<string | null>(null);
  const wrap = useRef<HTMLDivElement>(null);
  const [avail, setAvail] = useState(0);
  useEffect(() => {
    const el = wrap.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setAvail(el.clientWidth));
    ro.observe(el);
    setAvail(el.clientWidth);
    return () => ro.disconnect();
  }, []);
  const names = params.length
    ? params.map((p) => p.name)
    : [...new Set(trials.flatMap((t) => Object.keys(t.parameters || {})))].sort();
  const exprOf = (n: string) => params.find((p) => p.name === n)?.expression || '';
  const axes: Axis[] = useMemo(() => {
    const a = names.map((n) => makeAxis(n, trials.map((t) => (t.parameters?.[n] ?? null) as any), exprOf(n)));
    a.push(makeAxis(metricName || 'metric', trials.map((t) => (typeof t.metric === 'number' ? t.metric : null)), ''));
    return a;
  }, [trials, names.join('|'), metricName]);
  const good = metricGoodness(
    trials.map((t) => (typeof t.metric === 'number' ? t.metric : null)),
    goal,
  );

  const W = Math.max(axes.length * 120, avail || 0, 360);
  const H = 300;
  const padT = 28;
  const padB = 24;
  const padX = 60;
  const innerH = H - padT - padB;
  const x = (i: number) => (axes.length === 1 ? W / 2 : padX + (i * (W - 2 * padX)) / (axes.length - 1));
  const y = (p: number) => padT + (1 - p) * innerH;

  const lines = trials
    .map((t) => {
      const vals = [...names.map((n) => t.parameters?.[n] ?? null), typeof t.metric === 'number' ? t.metric : null];
      let d = '';
      let pen = false;
      vals.forEach((v, i) => {
        const p = axes[i].pos(v as any);
        if (p === null) {
          pen = false;
          return;
        }
        d += `${pen ? 'L' : 'M'}${x(i).toFixed(1)},${y(p).toFixed(1)}`;
        pen = true;
      });
      return { t, d, stopped: stoppedByPolicy(t), g: good(typeof t.metric === 'number' ? t.metric : null) };
    })
    .filter((l) => l.d.includes('L') || l.d.length > 0);
  // Draw the best on top.
  lines.sort((a, b) => (a.stopped === b.stopped ? (a.g ?? -1) - (b.g ?? -1) : a.stopped ? -1 : 1));
  const hovered = lines.find((l) => l.t.id === hover);

  return (
    <div class="parcoords-wrap scroll-x" ref={wrap}>
      <svg
        data-testid="parcoords"
        data-lines={lines.length}
        width={W}
        height={H}
        viewBox={`0 0 ${W} ${H}`}
        class="parcoords"
        onMouseLeave={() => setHover(null)}
      >
        {lines.map((l) => (
          <path
            key={l.t.id}
            d={l.d}
            fill="none"
            data-trial={l.t.id}
            stroke={l.stopped ? '#9ca3af' : rampColor(l.g)}
            stroke-width={hover === l.t.id ? 3.5 : 1.6}
            stroke-dasharray={l.stopped ? '5 4' : undefined}
            opacity={hover && hover !== l.t.id ? 0.25 : l.stopped ? 0.8 : 0.9}
            style={{ cursor: 'pointer', pointerEvents: 'visibleStroke' }}
            onMouseEnter={() => setHover(l.t.id)}
          >
            <title>{l.t.id}</title>
          </path>
        ))}
        {axes.map((a, i) => (
          <g key={a.name + i}>
            <line x1={x(i)} x2={x(i)} y1={padT} y2={padT + innerH} stroke="#374151" stroke-width={1} />
            <text x={x(i)} y={14} text-anchor="middle" class="pc-title">
              {a.name}
              {a.kind === 'log' ? ' (log)' : ''}
            </text>
            {axisTicks(a, 5).map((tk) => (
              <text key={tk.label} x={x(i) + 5} y={y(tk.pos) + 3} class="pc-tick">
                {tk.label.length > 14 ? tk.label.slice(0, 13) + '…' : tk.label}
              </text>
            ))}
          </g>
        ))}
      </svg>
      <div class="pc-legend small">
        {hovered ? (
          <span>
            <a href={`#/runs/${encodeURIComponent(hovered.t.id)}`} class="mono">
              {hovered.t.id}
            </a>{' '}
            {names.map((n) => `${n}=${hovered.t.parameters?.[n] ?? '—'}`).join(', ')} → {metricName}{' '}
            {formatMetric(hovered.t.metric)}
            {hovered.stopped ? ' (stopped by policy)' : ''}
          </span>
        ) : (
          <span class="muted">
            Colour: {goal === 'Maximize' ? 'higher' : 'lower'} {metricName} is darker blue; dashed grey lines are trials stopped by the
            policy. Hover a line for its values.
          </span>
        )}
      </div>
    </div>
  );
}
