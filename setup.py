"""The optional C parts of the transcript import (the Claude Code reader, the stage row
binder and usage sums, the row ids, the priced api rows); everything else is in
pyproject.toml.

optional=True: without a compiler the install still works, on their Python specifications.
"""

import sys

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "aitrack.transcripts._claude_read",
            ["src/aitrack/transcripts/_claude_read.c"],
            optional=True,
        ),
        Extension(
            "aitrack.store._stage_pack",
            ["src/aitrack/store/_stage_pack.c"],
            libraries=["dl"] if sys.platform.startswith("linux") else [],
            optional=True,
        ),
        Extension(
            "aitrack.importing._ulids",
            ["src/aitrack/importing/_ulids.c"],
            optional=True,
        ),
        Extension(
            "aitrack.importing._api_rows",
            ["src/aitrack/importing/_api_rows.c"],
            # costs to the bit as Python computes them: no fused multiply-add
            extra_compile_args=[] if sys.platform == "win32" else ["-ffp-contract=off"],
            optional=True,
        ),
    ]
)
