"""The learning benchmark: real job titles, cold / warm / adapted (`python -m bench.learning`).

Beside it, run on their own: `bench.learning.resplit` (is a gain bigger than one split's luck?),
`bench.learning.pairs` (2,000 vs every alternate title recorded), `bench.learning.rerank` (a learned
reranker over the adapted top 30, not in the product yet), `bench.learning.devset` (rebuilds the
dev set's files).
"""
