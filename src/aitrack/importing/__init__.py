"""Importers: coding-agent transcripts (incremental) and the stores of the tools aitrack replaces."""
