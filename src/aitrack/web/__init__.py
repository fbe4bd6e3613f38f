"""The web dashboard and REST API of aitrack (FastAPI, Jinja2, htmx, server-drawn SVG)."""
