"""A phase's results: counts read from the store, the statistics of agents/campaigns/stats.py
on them, a series over time for the charts, CSAT per arm, and the same as CSV and SVG.

Everything is counted per phase: exposed visitors per arm (one exposure per visitor and
phase), converted visitors per arm and goal (within the goal's window), ratings of the
conversations each arm opened.
"""

from __future__ import annotations

import csv
import io
import math
from datetime import datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape

import sqlalchemy as sa

from agents.campaigns.assignment import HOLDOUT, shares
from agents.campaigns.definition import goal_name
from agents.campaigns.stats import ArmCounts, analyse, confidence_sequence, wilson
from agents.campaigns.store import Campaign
from agents.models import campaign_phases, conversions, csat_ratings, exposures
from agents.spreadsheet import safe_cell
from chat.clock import as_utc, iso, utcnow
from chat.db import Database
from chat.models import conversations

__all__ = ["campaign_results", "results_csv", "results_svg"]

MAX_POINTS = 400


def _metric_names(definition: dict[str, Any]) -> list[str]:
    names: list[str] = []
    for goal in [definition["goal"], *definition["secondary_goals"]]:
        name = goal_name(goal)
        names.append(name if name not in names else f"{name} ({len(names) + 1})")
    return names


def _bucket(db: Database, column: Any, hours: int) -> Any:
    """The start of the hour (or day, UTC) of a timestamp: a timestamp on PostgreSQL
    (date_bin, the cheapest way there), text that sorts in time on SQLite."""
    if db.engine.dialect.name == "postgresql":
        step = sa.text(f"INTERVAL '{hours} hours'")
        origin = sa.text("TIMESTAMPTZ '2000-01-01 00:00:00+00'")
        return sa.func.date_bin(step, column, origin)
    fmt = "%Y-%m-%d %H:00" if hours == 1 else "%Y-%m-%d 00:00"
    return sa.func.strftime(fmt, column)


def _when(value: Any) -> str:
    """A bucket as the series shows it: ``YYYY-MM-DD HH:00`` (UTC)."""
    if isinstance(value, datetime):
        return as_utc(value).strftime("%Y-%m-%d %H:00")
    return str(value)


async def campaign_results(
    db: Database, campaign: Campaign, phase: int, *, series: bool = True
) -> dict[str, Any]:
    """The phase's results; with ``series``, the cumulative figures over time too (what the
    charts draw: the costliest part on a large phase)."""
    async with db.read() as conn:
        row = (
            await conn.execute(
                sa.select(campaign_phases).where(
                    campaign_phases.c.campaign_id == campaign.id, campaign_phases.c.phase == phase
                )
            )
        ).first()
        definition = row.definition if row is not None else campaign.definition
        started = as_utc(row.started_at) if row is not None else None
        ended = as_utc(row.ended_at) if row is not None and row.ended_at else None
        in_phase = sa.and_(exposures.c.campaign_id == campaign.id, exposures.c.phase == phase)
        exposed = {
            r.arm: r.n
            for r in await conn.execute(
                sa.select(exposures.c.arm, sa.func.count().label("n"))
                .where(in_phase)
                .group_by(exposures.c.arm)
            )
        }
        converted: dict[tuple[str, int], int] = {
            (r.arm, r.goal): r.n
            for r in await conn.execute(
                sa.select(conversions.c.arm, conversions.c.goal, sa.func.count().label("n"))
                .where(conversions.c.campaign_id == campaign.id, conversions.c.phase == phase)
                .group_by(conversions.c.arm, conversions.c.goal)
            )
        }
        rated = {
            r.arm: r
            for r in await conn.execute(
                sa.select(
                    conversations.c.campaign_arm.label("arm"),
                    sa.func.count(csat_ratings.c.score).label("ratings"),
                    sa.func.sum(sa.case((csat_ratings.c.score >= 4, 1), else_=0)).label("good"),
                    sa.func.avg(csat_ratings.c.score).label("mean"),
                    sa.func.count(conversations.c.resolved_at).label("resolved"),
                )
                .select_from(
                    conversations.outerjoin(
                        csat_ratings, csat_ratings.c.conversation_id == conversations.c.id
                    )
                )
                .where(
                    conversations.c.campaign_id == campaign.id,
                    conversations.c.campaign_phase == phase,
                )
                .group_by(conversations.c.campaign_arm)
            )
        }
        end = ended or utcnow()
        hours = 1 if started is None or end - started <= timedelta(days=3) else 24
        series_rows: list[tuple[str, str, str, int]] = []
        if started is not None and series:
            bucket = _bucket(db, exposures.c.at, hours).label("at_bucket")
            series_rows.extend(
                ("exposed", _when(r.at_bucket), r.arm, r.n)
                for r in await conn.execute(
                    sa.select(bucket, exposures.c.arm, sa.func.count().label("n"))
                    .where(in_phase)
                    .group_by(bucket, exposures.c.arm)
                )
            )
            cbucket = _bucket(db, conversions.c.at, hours).label("at_bucket")
            series_rows.extend(
                ("converted", _when(r.at_bucket), r.arm, r.n)
                for r in await conn.execute(
                    sa.select(cbucket, conversions.c.arm, sa.func.count().label("n"))
                    .where(
                        conversions.c.campaign_id == campaign.id,
                        conversions.c.phase == phase,
                        conversions.c.goal == 0,
                    )
                    .group_by(cbucket, conversions.c.arm)
                )
            )

    arm_defs = [(a["key"], float(a["weight"])) for a in definition["arms"]]
    expected = shares(arm_defs, definition["holdout"])
    keys = list(expected)  # holdout first when there is one
    control = HOLDOUT if HOLDOUT in expected else keys[0]
    names = _metric_names(definition)
    counts = [
        ArmCounts(
            key=key,
            weight=expected[key],
            exposed=exposed.get(key, 0),
            conversions={name: converted.get((key, i), 0) for i, name in enumerate(names)},
        )
        for key in keys
    ]
    analysis = analyse(counts, control=control, primary=names[0], metrics=names).as_dict()
    for arm in analysis["arms"]:
        arm["expected_share"] = round(expected[arm["key"]], 6)
        r = rated.get(arm["key"])
        ratings = int(r.ratings) if r is not None else 0
        resolved = int(r.resolved) if r is not None else 0
        arm["csat"] = {
            "ratings": ratings,
            "score": round(int(r.good) / ratings, 4) if r is not None and ratings else None,
            "mean": round(float(r.mean), 3) if r is not None and r.mean is not None else None,
            "response_rate": round(ratings / resolved, 4) if resolved else None,
        }
    return {
        "campaign_id": campaign.id,
        "phase": phase,
        "started_at": iso(started) if started else None,
        "ended_at": iso(ended) if ended else None,
        "control": control,
        "goals": [
            {"index": i, "name": name, "primary": i == 0, **goal}
            for i, (name, goal) in enumerate(
                zip(names, [definition["goal"], *definition["secondary_goals"]], strict=True)
            )
        ],
        **analysis,
        **({"series": _series(series_rows, keys, control, hours)} if series else {}),
    }


def _series(
    rows: list[tuple[str, str, str, int]], keys: list[str], control: str, hours: int
) -> dict[str, Any]:
    """Cumulative exposed and converted per arm at the end of each hour (or day), with the
    rate's interval and each arm's lift over the control with its confidence sequence."""
    times = sorted({t for _, t, _, _ in rows})[-MAX_POINTS:]
    step: dict[tuple[str, str, str], int] = {}
    for kind, t, arm, n in rows:
        step[(kind, t, arm)] = step.get((kind, t, arm), 0) + int(n)
    totals = {(kind, arm): 0 for kind in ("exposed", "converted") for arm in keys}
    points: dict[str, list[dict[str, Any]]] = {arm: [] for arm in keys}
    lifts: dict[str, list[dict[str, Any]]] = {arm: [] for arm in keys if arm != control}
    all_times = sorted({t for _, t, _, _ in rows})
    for t in all_times:
        for arm in keys:
            for kind in ("exposed", "converted"):
                totals[(kind, arm)] += step.get((kind, t, arm), 0)
        if t not in times:
            continue
        for arm in keys:
            n, x = totals[("exposed", arm)], totals[("converted", arm)]
            ci = wilson(x, n)
            points[arm].append(
                {
                    "t": t,
                    "exposed": n,
                    "converted": x,
                    "rate": x / n if n else None,
                    "ci": [ci.lo, ci.hi],
                }
            )
        n0, x0 = totals[("exposed", control)], totals[("converted", control)]
        for arm in lifts:
            n1, x1 = totals[("exposed", arm)], totals[("converted", arm)]
            if n1 and n0:
                cs = confidence_sequence(x1, n1, x0, n0)
                lifts[arm].append(
                    {"t": t, "lift": cs.estimate, "band": [cs.interval.lo, cs.interval.hi]}
                )
    return {"unit": "hour" if hours == 1 else "day", "rate": points, "lift": lifts}


def results_csv(results: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["phase", "arm", "metric", "exposed", "converted", "rate", "ci_low", "ci_high",
         "lift_abs", "lift_abs_low", "lift_abs_high", "sequential_low", "sequential_high",
         "p_value", "p_adjusted", "csat_score", "csat_ratings"]
    )  # fmt: skip
    lifts = {(lift["arm"], lift["metric"]): lift for lift in results["lift"]}
    for arm in results["arms"]:
        for metric, m in arm["metrics"].items():
            lift = lifts.get((arm["key"], metric), {})
            abs_ci = lift.get("absolute_ci") or [None, None]
            seq = lift.get("sequential_ci") or [None, None]
            cells = [
                results["phase"], arm["key"], metric, arm["exposed"], m["converted"], m["rate"],
                m["ci"][0], m["ci"][1], lift.get("absolute"), abs_ci[0], abs_ci[1], seq[0],
                seq[1], lift.get("p_value"), lift.get("p_adjusted"), arm["csat"]["score"],
                arm["csat"]["ratings"],
            ]  # fmt: skip
            writer.writerow([safe_cell(c) for c in cells])
    return out.getvalue()


# -- SVG charts, drawn on the server (no script, text alternatives inside) -----------------

_COLOURS = ["#6b7280", "#2563eb", "#d97706", "#059669", "#dc2626", "#7c3aed", "#0891b2"]
W, H, PAD_L, PAD_R, PAD_T, PAD_B = 640, 280, 56, 110, 28, 36


def results_svg(results: dict[str, Any], chart: str) -> str:
    series = results["series"]
    if chart == "rate":
        lines = {
            arm: [(p["t"], p["rate"], p["ci"][0], p["ci"][1]) for p in pts if p["rate"] is not None]
            for arm, pts in series["rate"].items()
        }
        title = f"Cumulative {results['goals'][0]['name']} rate per arm, phase {results['phase']}"
        zero = False
    else:
        lines = {
            arm: [(p["t"], p["lift"], p["band"][0], p["band"][1]) for p in pts]
            for arm, pts in series["lift"].items()
        }
        title = (
            f"Lift over {results['control']} with its always-valid 95 % band, "
            f"phase {results['phase']}"
        )
        zero = True
    order = [a["key"] for a in results["arms"]]
    colours = {k: _COLOURS[order.index(k) % len(_COLOURS)] for k in order}
    unit = " %" if chart == "rate" else " pts"
    return _svg(title, lines, _describe(results, chart), zero=zero, colours=colours, unit=unit)


def _describe(results: dict[str, Any], chart: str) -> str:
    parts = []
    if chart == "rate":
        for arm in results["arms"]:
            rate = arm["rate"]
            parts.append(
                f"{arm['key']}: {arm['converted']} of {arm['exposed']} exposed"
                + (f" ({rate * 100:.1f} %)" if rate is not None else "")
            )
    else:
        for lift in results["lift"]:
            if lift["metric"] != results["goals"][0]["name"] or lift["absolute"] is None:
                continue
            lo, hi = lift["sequential_ci"] or [None, None]
            band = f", band {lo * 100:+.1f} to {hi * 100:+.1f} points" if lo is not None else ""
            parts.append(f"{lift['arm']}: {lift['absolute'] * 100:+.1f} points{band}")
    parts.append(results["verdict"]["text"])
    return "; ".join(parts)


def _ticks(lo: float, hi: float) -> list[float]:
    """Round values (1, 2 or 5 times a power of ten) spanning [lo, hi]."""
    raw = (hi - lo) / 4
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(lo / step) * step
    return [
        first + i * step
        for i in range(int((hi - first) / step) + 2)
        if first + i * step <= hi + step
    ]


def _svg(
    title: str,
    lines: dict[str, list[tuple[str, float, float, float]]],
    desc: str,
    *,
    zero: bool,
    colours: dict[str, str],
    unit: str,
) -> str:
    values = [
        v for pts in lines.values() for _, y, lo, hi in pts for v in (y, lo, hi) if v is not None
    ]
    times = sorted({t for pts in lines.values() for t, *_ in pts})
    lo_v = min([*values, 0.0])
    hi_v = max([*values, 0.01])
    if hi_v - lo_v < 1e-9:
        hi_v = lo_v + 0.01
    ticks = _ticks(lo_v, hi_v)
    lo_v, hi_v = min(lo_v, ticks[0]), max(hi_v, ticks[-1])
    plot_w, plot_h = W - PAD_L - PAD_R, H - PAD_T - PAD_B

    def x(t: str) -> float:
        if len(times) < 2:
            return PAD_L + plot_w / 2
        return PAD_L + plot_w * times.index(t) / (len(times) - 1)

    def y(v: float) -> float:
        return PAD_T + plot_h * (1 - (v - lo_v) / (hi_v - lo_v))

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" role="img" '
        f'aria-labelledby="t d" font-family="system-ui, sans-serif" font-size="11">',
        f'<title id="t">{escape(title)}</title><desc id="d">{escape(desc)}</desc>',
        f'<rect x="0" y="0" width="{W}" height="{H}" fill="#fff"/>',
    ]
    for v in ticks:
        points = round(v * 100, 6) + 0.0  # no -0
        label = f"{points:+g}" if zero and points else f"{points:g}"
        out.append(
            f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
            f'stroke="#e5e7eb"/><text x="{PAD_L - 6}" y="{y(v) + 4:.1f}" text-anchor="end" '
            f'fill="#374151">{label}{unit}</text>'
        )
    if zero and lo_v < 0 < hi_v:
        out.append(
            f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{y(0):.1f}" y2="{y(0):.1f}" '
            'stroke="#111827"/>'
        )
    if times:
        ends = (
            [(times[0], "start"), (times[-1], "end")] if len(times) > 1 else [(times[0], "middle")]
        )
        for t, anchor in ends:
            out.append(
                f'<text x="{x(t):.1f}" y="{H - 12}" text-anchor="{anchor}" '
                f'fill="#374151">{escape(t)} UTC</text>'
            )
    else:
        out.append(
            f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle" '
            'fill="#6b7280">No exposures yet</text>'
        )
    for i, (arm, pts) in enumerate(lines.items()):
        colour = colours.get(arm, _COLOURS[i % len(_COLOURS)])
        if pts:
            band = [f"{x(t):.1f},{y(hi):.1f}" for t, _, _, hi in pts]
            band += [f"{x(t):.1f},{y(lo):.1f}" for t, _, lo, _ in reversed(pts)]
            out.append(f'<polygon points="{" ".join(band)}" fill="{colour}" fill-opacity="0.15"/>')
            path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v, _, _ in pts)
            out.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>'
            )
            for t, v, lo, hi in pts if len(pts) < 40 else pts[-1:]:  # a lone hour shows too
                out.append(
                    f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{y(lo):.1f}" y2="{y(hi):.1f}" '
                    f'stroke="{colour}" stroke-opacity="0.5"/>'
                    f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="3" fill="{colour}"/>'
                )
        ly = PAD_T + 16 * i
        out.append(
            f'<rect x="{W - PAD_R + 12}" y="{ly}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{W - PAD_R + 28}" y="{ly + 9}" fill="#111827">{escape(arm)}</text>'
        )
    out.append("</svg>")
    return "".join(out)
