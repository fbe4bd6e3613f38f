"""The optional C reader of Claude Code transcripts; everything else is in pyproject.toml.

optional=True: without a compiler the install still works, on the pure-Python reader.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "aitrack.transcripts._claude_read",
            ["src/aitrack/transcripts/_claude_read.c"],
            optional=True,
        )
    ]
)
