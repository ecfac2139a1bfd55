"""`lakehouse mcp`: the lakehouse as an MCP server (tools, prompts, resources) for models and agents."""
