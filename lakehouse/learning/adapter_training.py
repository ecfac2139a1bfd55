"""Training a query adapter on recorded (query, answer) pairs: what `lakehouse adapt` learns.

What is learned (chosen by measurement, issue 11; see BENCHMARKS.md): a query-side linear map W
(d x d, starting at the identity) together with offsets P for the corpus rows that were recorded as
answers ("prototypes"; the other rows keep their vectors), trained jointly with a softmax
cross-entropy of `normalize(q W) . normalize(d + P_d) / 0.05` against every corpus row vector as
stored in the corpus table (no re-embedding), plus 0.03 ||W - I||^2 + 0.03 ||P||^2; Adam, lr 1e-2,
100 full-batch epochs, seeded. On 2,000 real titles -> 500 others (MiniLM, the dev set's published
split) the lift's adapted pass (this adapter and the playbook vote) reads recall@1 0.434 / recall@10
0.772 against 0.330 / 0.624 cold, after 7 CPU seconds of training. Above `FULL_SOFTMAX_ROWS`
corpus rows the softmax runs over a candidate set (the answers plus each query's nearest rows), so
memory stays bounded.

`train(..., start=adapter)` goes on from an existing adapter instead of the identity (the lift
test's adapted pass on a corpus whose live generation is already adapted).
"""

from __future__ import annotations

import os
import resource
import time

import numpy as np

from lakehouse.common.progress import Progress, no_progress
from lakehouse.learning.errors import AdaptError
from lakehouse.search.adapter import Adapter
from lakehouse.search.embed.base import normalise

FULL_SOFTMAX_ROWS = 50_000
CANDIDATES_PER_QUERY = 200
TEMPERATURE = 0.05
ADAPTED_VOTE_WEIGHT = 0.8  # playbook vote weight of an adapted generation (plain searches: 1.5)
W_DECAY = 0.03  # 0.1 until 2026-12-05: 0.03 was +0.006 recall@1 over 21 splits (BENCHMARKS.md)
P_DECAY = 0.03
LEARNING_RATE = 1e-2
EPOCHS = 100
MAX_THREADS = 8


def _peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux: the process's peak, training included
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def _candidate_rows(queries: np.ndarray, corpus: np.ndarray, labels: list[int], per_query: int) -> np.ndarray:
    """The answers plus each query's `per_query` nearest rows, in chunks so memory stays bounded."""
    rows = set(labels)
    for start in range(0, len(queries), 256):
        sims = queries[start : start + 256] @ corpus.T
        k = min(per_query, corpus.shape[0])
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        rows.update(int(i) for i in top.ravel())
    return np.array(sorted(rows), dtype=np.int64)


def training_threads() -> int:
    """Threads torch trains with: OMP_NUM_THREADS when set (processes side by side on shared cores,
    where threads spinning for each other cost more than they add), else every core up to
    MAX_THREADS."""
    said = os.environ.get("OMP_NUM_THREADS", "").strip()
    if said.isdigit() and int(said) > 0:
        return int(said)
    return max(1, min(MAX_THREADS, os.cpu_count() or 1))


# training ----------------------------------------------------------------------------------
def train(
    query_vectors: np.ndarray,
    answers: list[str],
    corpus_ids: list[str],
    corpus_vectors: np.ndarray,
    *,
    epochs: int = EPOCHS,
    seed: int = 0,
    start: Adapter | None = None,
    progress: Progress | None = None,
) -> Adapter:
    """An `Adapter` trained on (query vector, answer id) pairs against the corpus row vectors.

    With `start` (the live generation's adapter) training goes on from it instead of from the
    identity: its W is the starting point the decay pulls towards and its moved rows are the rows'
    vectors, so what it learned from the corpus's history stays and these pairs add to it (the lift
    test's adapted pass: the live state plus the run's own recordings)."""
    import torch  # heavy: only the trainer needs it

    progress = progress or no_progress
    queries = normalise(np.atleast_2d(query_vectors))
    if len(queries) != len(answers):
        raise AdaptError(f"{len(queries)} query vectors but {len(answers)} answers")
    if not answers:
        raise AdaptError("nothing to train on: no (query, answer) pairs")
    corpus = normalise(corpus_vectors)
    if queries.shape[1] != corpus.shape[1]:
        raise AdaptError(f"query vectors are {queries.shape[1]}-dim, the corpus rows {corpus.shape[1]}-dim")
    position = {row_id: i for i, row_id in enumerate(corpus_ids)}
    unknown = sorted({a for a in answers if a not in position})
    if unknown:
        raise AdaptError(f"answers not in the corpus: {', '.join(unknown[:5])}")
    labels = [position[a] for a in answers]
    softmax = "full"
    rows = np.arange(len(corpus))
    if start is not None:
        if start.dims != corpus.shape[1]:
            raise AdaptError(f"the starting adapter is {start.dims}-dim, the corpus rows {corpus.shape[1]}-dim")
        corpus = corpus.copy()
        for row_id, vector in zip(start.ids, start.vectors, strict=True):
            if row_id in position:
                corpus[position[row_id]] = vector
    if len(corpus) > FULL_SOFTMAX_ROWS:
        softmax = "candidates"
        rows = _candidate_rows(queries, corpus, labels, CANDIDATES_PER_QUERY)
        local = {int(r): i for i, r in enumerate(rows)}
        labels = [local[label] for label in labels]
    adapted = sorted(set(labels))
    dims = corpus.shape[1]

    threads_before = torch.get_num_threads()
    torch.set_num_threads(training_threads())
    cpu0, wall0 = time.process_time(), time.perf_counter()
    try:
        torch.manual_seed(seed)
        X = torch.from_numpy(queries)
        Y = torch.tensor(labels, dtype=torch.long)
        D = torch.from_numpy(np.ascontiguousarray(corpus[rows]))
        moved = torch.tensor(adapted, dtype=torch.long)
        anchor = torch.eye(dims) if start is None else torch.from_numpy(start.W.copy())  # what W decays to
        W = torch.nn.Parameter(anchor.clone())
        P = torch.nn.Parameter(torch.zeros(len(adapted), dims))
        optimizer = torch.optim.Adam([W, P], lr=LEARNING_RATE)
        loss_value = float("nan")
        for epoch in range(epochs):
            Z = torch.nn.functional.normalize(X @ W, dim=1)
            C = torch.nn.functional.normalize(D.index_add(0, moved, P), dim=1)
            loss = (
                torch.nn.functional.cross_entropy(Z @ C.T / TEMPERATURE, Y)
                + W_DECAY * ((W - anchor) ** 2).sum()
                + P_DECAY * (P**2).sum()
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_value = float(loss.detach())
            progress("training", epoch + 1, epochs)
        with torch.no_grad():
            C = torch.nn.functional.normalize(D.index_add(0, moved, P), dim=1)
            vectors = C[moved].numpy().astype(np.float32)
            matrix = W.detach().numpy().astype(np.float32)
    finally:
        torch.set_num_threads(threads_before)
    meta = {
        "kind": "query-map+prototypes",
        # The gate may choose more for a long history; a fresh adapter (or the lift's, whose store
        # is as small as its train file) starts at the weight measured best for a short one.
        "vote_weight": ADAPTED_VOTE_WEIGHT,
        "start_pairs": start.meta.get("pairs") if start else None,  # went on from an adapter of that many
        "pairs": len(answers),
        "adapted_rows": len(adapted),
        "corpus_rows": len(corpus_ids),
        "softmax": softmax,
        "softmax_rows": int(len(rows)),
        "epochs": epochs,
        "seed": seed,
        "temperature": TEMPERATURE,
        "w_decay": W_DECAY,
        "p_decay": P_DECAY,
        "learning_rate": LEARNING_RATE,
        "final_loss": round(loss_value, 6),
        "cpu_s": round(time.process_time() - cpu0, 3),
        "wall_s": round(time.perf_counter() - wall0, 3),
        "peak_rss_mb": _peak_rss_mb(),
    }
    ids = [corpus_ids[int(rows[i])] for i in adapted]
    if start is not None:  # the rows the start had moved (still in the corpus) that these pairs did not
        moved_now = set(ids)
        kept = [i for i, row_id in enumerate(start.ids) if row_id in position and row_id not in moved_now]
        ids += [start.ids[i] for i in kept]
        vectors = np.concatenate([vectors, start.vectors[kept]])
    return Adapter(matrix, ids, vectors, meta)
