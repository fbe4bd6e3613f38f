"""The local API proxy: forwards Anthropic and OpenAI calls and records their usage.

Import `aitrack.proxy.server` for the server itself (it imports aiohttp)."""
