"""Report commands: stats, report (the text ROI report) and export."""

from __future__ import annotations

import click

from aitrack.cli.common import emit, json_option, money, pairs, table, tracker
from aitrack.clock import format_duration, parse_since


def _filters(since: str | None, until: str | None, repo: str | None, tz: str | None) -> dict:
    import os

    return {
        "since": parse_since(since, tz) if since else None,
        "until": parse_since(until, tz) if until else None,
        "repo": os.path.abspath(repo) if repo else None,
    }


def _period_options(func):
    func = click.option(
        "--timezone", "tz", default=None, help="IANA zone for days (default: the system's)."
    )(func)
    func = click.option("--repo", default=None, help="Only this repository.")(func)
    func = click.option("--until", default=None, help="Only sessions started before.")(func)
    func = click.option(
        "--since", default=None, help="Only sessions started since (YYYY-MM-DD, 7d, …)."
    )(func)
    return func


GROUPINGS = ("task_type", "model", "repo", "agent", "branch", "outcome", "developer", "day")


def _groupings(text: str) -> tuple[str, ...]:
    parts = tuple(p.strip() for p in text.split(",") if p.strip())
    unknown = [p for p in parts if p not in GROUPINGS]
    if unknown:
        raise click.BadParameter(
            f"unknown grouping {', '.join(unknown)}: use {', '.join(GROUPINGS)}", param_hint="--by"
        )
    return parts


@click.command()
@_period_options
@click.option(
    "--by",
    "by",
    default="task_type",
    show_default=True,
    help=f"Break totals down by these, comma-separated: {', '.join(GROUPINGS)}.",
)
@json_option
def stats(since, until, repo, tz, by, as_json):
    """Totals across sessions: time, tokens, cost, quality, ROI, and breakdowns
    (per task type by default; --by model,repo,day,… for more)."""
    from aitrack import analytics

    t = tracker()
    dims = _groupings(by)
    data = analytics.overview(
        t.store,
        t.settings,
        _filters(since, until, repo, tz),
        tz,
        groups=tuple(d for d in dims if d != "day"),
        per_day="day" in dims,
    )

    def human():
        s, r, api = data["sessions"], data["roi"], data["api"]
        avg = s["hours"] * 60 / s["total"] if s["total"] else 0
        pairs(
            [
                ("Total sessions", f"{s['total']} ({s['active']} active)"),
                (
                    "Outcomes",
                    f"{s['success']} success, {s['partial']} partial, {s['failed']} failed",
                ),
                ("Total time", format_duration(s["hours"] * 60)),
                ("Average session", format_duration(avg)),
                ("Interactions", f"{data['interactions']} (avg rating {data['average_rating']})"),
                ("Issues", data["issues"]["total"]),
                ("Files changed", data["changes"]["files"]),
                ("Commits", data["changes"]["commits"]),
                ("AI tokens", f"{api['tokens']:,}"),
                (
                    "AI cost",
                    money(api["cost_usd"])
                    + (
                        f" ({api['unpriced_calls']} unpriced calls)"
                        if api["unpriced_calls"]
                        else ""
                    ),
                ),
                ("Time saved", f"{r['time_saved_hours']:.1f} h"),
                ("Cost saved", money(r["cost_saved"])),
                ("ROI", f"{r['roi_percentage']:.1f}% ({r['productivity_multiplier']:.2f}x)"),
            ],
            title="Overall statistics",
        )
        for dim, groups in data["by"].items():
            if groups:
                table(
                    [
                        dim.replace("_", " "),
                        "sessions",
                        "hours",
                        "est. hours",
                        "avg rating",
                        "issues",
                    ],
                    [
                        [
                            g["key"],
                            g["sessions"],
                            g["hours"],
                            g["estimate_hours"],
                            g["average_rating"],
                            g["issues"],
                        ]
                        for g in groups
                    ],
                    title=f"By {dim.replace('_', ' ')}",
                )
        if data["per_day"]:
            table(
                ["day", "sessions", "hours", "success", "partial", "failed", "avg rating"],
                [
                    [
                        d["day"],
                        d["sessions"],
                        d["hours"],
                        d["success"],
                        d["partial"],
                        d["failed"],
                        d["average_rating"],
                    ]
                    for d in data["per_day"]
                ],
                title="Per day",
            )

    emit("Statistics", data, human)


@click.command()
@_period_options
@json_option
def report(since, until, repo, tz, as_json):
    """The text ROI report: sessions, ROI, effectiveness, issues, gaps, API use, code."""
    from aitrack import analytics

    t = tracker()
    data = analytics.overview(t.store, t.settings, _filters(since, until, repo, tz), tz)
    text = analytics.report_text(data)
    emit("Report", {"report": text, **data}, lambda: click.echo(text))


@click.command()
@click.option(
    "--format", "fmt", type=click.Choice(["json", "csv"]), default="json", show_default=True
)
@click.option("--since", default=None, help="Only sessions started since.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Write to this file instead of stdout.",
)
def export(fmt, since, output):
    """Export sessions with everything recorded in them (JSON is lossless; CSV is one row per
    session)."""
    from aitrack import exporting

    t = tracker()
    filters = {"since": parse_since(since) if since else None}
    stream = click.open_file(output or "-", "w", encoding="utf-8")
    with stream:
        count = exporting.write(t, filters, fmt, stream)
    if output:
        click.echo(f"exported {count} sessions to {output}", err=True)
