"""The MCP server (`aitrack server`): how an agent reports what only it knows.

Importing this package is free; the MCP SDK (over a second to import) is imported only by
aitrack.mcp.server and the tool modules, which only the server command loads.
"""
