"""aitrack: local-first tracking of AI-assisted coding sessions, cost, quality and ROI."""

__version__ = "0.1.0"
