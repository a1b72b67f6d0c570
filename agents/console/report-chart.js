// A bar chart as inline SVG, built node by node (createElementNS: no library, no markup
// parsed): a bar per period (and per breakdown key), an optional mark above each bar (a 90th
// percentile over its median), round ticks in the figure's own unit. The picture is one image
// to assistive technology, named by its <title> and described by its <desc>; the table under
// it holds every number, so nothing here needs the mouse (a bar's own <title> is a tooltip).

import { count, duration, share } from "./report-figures.js";

const SVG = "http://www.w3.org/2000/svg";
const PAD = { top: 14, right: 12, bottom: 34, left: 70 };
const CONTROLS = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g; // a label reads as it is

let charts = 0;

function el(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined) node.setAttribute(key, String(value));
  }
  if (text !== undefined) node.textContent = text;
  return node;
}

const plain = (text) => String(text ?? "").replace(CONTROLS, "");

const DURATION_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 345600, 604800];

/** The top of the axis and the step between ticks, round in the figure's unit. */
export function ticks(kind, max) {
  if (kind === "share") return { top: 1, step: 0.25 };
  const high = Math.max(max, 0);
  let step;
  if (kind === "duration") {
    step = DURATION_STEPS.find((s) => s * 5 >= high) || Math.ceil(high / 5 / 604800) * 604800;
  } else {
    const raw = Math.max(high / 4, 1);
    const power = 10 ** Math.floor(Math.log10(raw));
    step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
  }
  return { top: Math.max(step, Math.ceil(high / step) * step), step };
}

const tickLabel = (kind, value) => (kind === "share" ? share(value, 0) : kind === "duration" ? duration(value) : count(value));

/**
 * groups: [{label, bars: [{slot, series, value, mark, tip, dataset}]}], slots bars wide each;
 * kind: count, share or duration; width: the room it has, in CSS pixels (its text stays at
 * its size). Returns the <svg>.
 */
export function barChart({ title, summary, groups, slots = 1, kind = "count", width = 720 }) {
  const WIDTH = Math.round(Math.min(1200, Math.max(280, width)));
  const HEIGHT = WIDTH < 520 ? 220 : 260;
  const id = `chart-${++charts}`;
  const values = groups.flatMap((g) => g.bars.flatMap((b) => [b.value, b.mark])).filter((v) => typeof v === "number");
  const { top, step } = ticks(kind, values.length ? Math.max(...values) : 0);
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const y = (v) => PAD.top + plotH - (Math.min(v, top) / top) * plotH;
  const svg = el("svg", {
    xmlns: SVG,
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    class: "report-chart",
    role: "img",
    "aria-labelledby": `${id}-title ${id}-desc`,
    preserveAspectRatio: "xMidYMid meet",
  });
  svg.append(el("title", { id: `${id}-title` }, plain(title)), el("desc", { id: `${id}-desc` }, plain(summary)));

  const axis = el("g", { class: "axis", "aria-hidden": "true" });
  for (let v = 0; v <= top + step / 1000; v += step) {
    const at = y(v);
    axis.append(
      el("line", { class: v === 0 ? "baseline" : "grid", x1: PAD.left, x2: WIDTH - PAD.right, y1: at, y2: at }),
      el("text", { class: "tick", x: PAD.left - 8, y: at, "text-anchor": "end", "dominant-baseline": "middle" }, tickLabel(kind, v)),
    );
  }
  svg.append(axis);

  const n = Math.max(groups.length, 1);
  const groupW = plotW / n;
  const barW = Math.max(1, Math.min(34, (groupW * 0.78) / slots));
  const inner = barW * slots;
  const every = Math.max(1, Math.ceil((n * 60) / plotW)); // a label every so many groups
  const maxChars = Math.max(4, Math.floor((groupW * every) / 7));
  const bars = el("g", { class: "bars" });
  const labels = el("g", { class: "xlabels", "aria-hidden": "true" });
  groups.forEach((group, i) => {
    const left = PAD.left + i * groupW + (groupW - inner) / 2;
    for (const bar of group.bars) {
      if (typeof bar.value !== "number") continue;
      const x = left + bar.slot * barW;
      const gap = barW > 6 ? 1.5 : 0;
      const height = Math.max(bar.value > 0 ? 2 : 1, PAD.top + plotH - y(bar.value));
      const rect = el("rect", {
        class: `bar s-${bar.series % 8}`,
        x: x + gap / 2,
        y: PAD.top + plotH - height,
        width: Math.max(1, barW - gap),
        height,
      });
      for (const [key, value] of Object.entries(bar.dataset || {})) rect.dataset[key] = value ?? "";
      rect.append(el("title", {}, plain(bar.tip)));
      bars.append(rect);
      if (typeof bar.mark === "number") {
        const cx = x + barW / 2;
        const cap = Math.max(2, Math.min(8, barW / 2 - 1));
        const from = PAD.top + plotH - height;
        const to = y(bar.mark);
        bars.append(el("path", { class: `mark s-${bar.series % 8}`, d: `M${cx} ${from}V${to}M${cx - cap} ${to}H${cx + cap}` }));
      }
    }
    if (i % every === 0) {
      let text = plain(group.label);
      if (text.length > maxChars) text = text.slice(0, maxChars - 1) + "…";
      labels.append(el("text", { class: "xlabel", x: PAD.left + (i + 0.5) * groupW, y: HEIGHT - PAD.bottom + 18, "text-anchor": "middle" }, text));
    }
  });
  svg.append(bars, labels);
  return svg;
}
