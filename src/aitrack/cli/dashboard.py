"""The `dashboard` command: serve the web dashboard and its REST API."""

from __future__ import annotations

import click

from aitrack.cli.common import state


@click.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. Anything but loopback requires a token.",
)
@click.option(
    "--port",
    default=8050,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0: any free port).",
)
@click.option("--open", "open_browser", is_flag=True, help="Open the dashboard in a browser.")
@click.option(
    "--token",
    default=None,
    envvar="AITRACK_DASHBOARD_TOKEN",
    help="Require this token (?token=… once, or Authorization: Bearer). Generated "
    "and printed when --host is not loopback.",
)
@click.option(
    "--poll",
    default=5.0,
    show_default=True,
    type=click.FloatRange(0.5, 600),
    help="Seconds between live checks of open pages.",
)
def dashboard(host: str, port: int, open_browser: bool, token: str | None, poll: float) -> None:
    """Serve the web dashboard and REST API (read-only unless a page's form writes).

    \b
    aitrack dashboard                 # http://127.0.0.1:8050
    aitrack dashboard --port 9000 --open
    aitrack dashboard --host 0.0.0.0  # for a team: prints a URL with a token
    """
    from aitrack.errors import InvalidValue
    from aitrack.settings import Settings
    from aitrack.web.app import serve

    settings = Settings.from_env(state().max_session_hours)
    try:
        serve(host, port, token, open_browser, settings=settings, poll_seconds=poll)
    except OSError as exc:
        raise InvalidValue(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}): the port "
            "is in use or the address is not this machine's; pick another with "
            "--port or --host"
        ) from None
    except KeyboardInterrupt:
        pass
