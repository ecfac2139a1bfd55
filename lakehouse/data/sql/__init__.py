"""Read-only SQL over the tables: engine, sources, guard."""
