"""The search wing: embedders, vector corpora, the matrix indexer, playbooks."""
