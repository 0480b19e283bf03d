/**
 * A small SVG line chart: one panel per swept setting, throughput on the left axis, p99
 * acknowledgement latency on the right, the latency target as a dotted line and the recommended
 * value marked. Hand-written: a charting dependency would be larger than this file.
 */

export interface Panel {
  title: string
  /** x values, shown evenly spaced in this order. */
  labels: string[]
  throughput: number[]
  latency: number[]
  /** Index into labels of the recommended value, or -1. */
  recommended: number
  /** Index into labels of the value the engine ships with, or -1. */
  current: number
}

const W = 420
const H = 260
const M = { left: 64, right: 56, top: 34, bottom: 46 }

export function chart(title: string, subtitle: string, panels: Panel[], latencyTargetMs: number): string {
  const cols = Math.min(2, panels.length)
  const rows = Math.ceil(panels.length / cols)
  const width = cols * W
  const height = rows * H + 70
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="12" y="22" font-size="15" font-weight="bold">${esc(title)}</text>`,
    `<text x="12" y="40" fill="#555">${esc(subtitle)}</text>`,
    legend(width - 380, 30),
  ]
  panels.forEach((p, i) => out.push(panel(p, (i % cols) * W, 60 + Math.floor(i / cols) * H, latencyTargetMs)))
  out.push('</svg>')
  return out.join('\n')
}

function legend(x: number, y: number): string {
  return [
    `<line x1="${x}" y1="${y}" x2="${x + 24}" y2="${y}" stroke="#1f5fbf" stroke-width="2.5"/>`,
    `<text x="${x + 30}" y="${y + 4}">throughput, ticks/s (left)</text>`,
    `<line x1="${x + 170}" y1="${y}" x2="${x + 194}" y2="${y}" stroke="#d9661a" stroke-width="2" stroke-dasharray="5,3"/>`,
    `<text x="${x + 200}" y="${y + 4}">ack p99 at half load, ms (right)</text>`,
  ].join('')
}

function panel(p: Panel, x0: number, y0: number, target: number): string {
  const pw = W - M.left - M.right
  const ph = H - M.top - M.bottom
  const n = p.labels.length
  const xAt = (i: number) => x0 + M.left + (n === 1 ? pw / 2 : (i * pw) / (n - 1))
  const tMax = niceMax(Math.max(...p.throughput.filter(Number.isFinite), 1))
  const lMax = niceMax(Math.max(target * 1.2, ...p.latency.filter(Number.isFinite)))
  const yT = (v: number) => y0 + M.top + ph - (v / tMax) * ph
  const yL = (v: number) => y0 + M.top + ph - (Math.min(v, lMax) / lMax) * ph
  const out: string[] = [`<g>`, `<text x="${x0 + M.left}" y="${y0 + 18}" font-size="13" font-weight="bold">${esc(p.title)}</text>`]
  for (let k = 0; k <= 4; k++) {
    const v = (tMax * k) / 4
    const y = yT(v)
    out.push(`<line x1="${x0 + M.left}" y1="${y}" x2="${x0 + M.left + pw}" y2="${y}" stroke="#eee"/>`)
    out.push(`<text x="${x0 + M.left - 6}" y="${y + 4}" text-anchor="end" fill="#1f5fbf">${short(v)}</text>`)
    out.push(`<text x="${x0 + M.left + pw + 6}" y="${yL((lMax * k) / 4) + 4}" fill="#d9661a">${short((lMax * k) / 4)}</text>`)
  }
  out.push(`<line x1="${x0 + M.left}" y1="${yL(target)}" x2="${x0 + M.left + pw}" y2="${yL(target)}" stroke="#d9661a" stroke-dasharray="1,3"/>`)
  out.push(`<text x="${x0 + M.left + pw - 2}" y="${yL(target) - 3}" text-anchor="end" fill="#d9661a" font-size="9">${target} ms target</text>`)
  p.labels.forEach((label, i) => {
    const weight = i === p.recommended ? ' font-weight="bold"' : ''
    out.push(`<text x="${xAt(i)}" y="${y0 + M.top + ph + 16}" text-anchor="middle"${weight}>${esc(label)}</text>`)
  })
  if (p.current >= 0) out.push(`<text x="${xAt(p.current)}" y="${y0 + M.top + ph + 30}" text-anchor="middle" fill="#777" font-size="9">default</text>`)
  if (p.recommended >= 0) {
    out.push(`<line x1="${xAt(p.recommended)}" y1="${y0 + M.top}" x2="${xAt(p.recommended)}" y2="${y0 + M.top + ph}" stroke="#2a9d3a" stroke-width="1" stroke-dasharray="3,2"/>`)
    out.push(`<text x="${xAt(p.recommended)}" y="${y0 + M.top - 4}" text-anchor="middle" fill="#2a9d3a" font-size="9">recommended</text>`)
  }
  out.push(line(p.throughput.map((v, i) => [xAt(i), yT(v)] as const), '#1f5fbf', '2.5', ''))
  out.push(line(p.latency.map((v, i) => [xAt(i), yL(v)] as const), '#d9661a', '2', ' stroke-dasharray="5,3"'))
  out.push(`</g>`)
  return out.join('\n')
}

function line(points: (readonly [number, number])[], color: string, width: string, extra: string): string {
  const ok = points.filter(([, y]) => Number.isFinite(y))
  const path = ok.map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${x.toFixed(1)},${y.toFixed(1)}`).join(' ')
  const dots = ok.map(([x, y]) => `<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="3" fill="${color}"/>`).join('')
  return `<path d="${path}" fill="none" stroke="${color}" stroke-width="${width}"${extra}/>${dots}`
}

function niceMax(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v))
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p
  return 10 * p
}

function short(v: number): string {
  if (v >= 1e6) return `${+(v / 1e6).toFixed(2)}M`
  if (v >= 1e3) return `${+(v / 1e3).toFixed(1)}k`
  return `${+v.toFixed(1)}`
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}
