"""The llm wing: chat dispatch through litellm tiers."""
