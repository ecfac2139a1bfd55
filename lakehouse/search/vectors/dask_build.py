"""Embedding a corpus build's rows on a Dask cluster (`Settings.dask_address`, `LH_DASK_ADDRESS`).

The source rows are cut into contiguous partitions in their (id-ordered) read order; each partition's
texts go to a worker, which embeds them with its process-wide embedder (`get_embedder` keeps one model
per process and name, so a worker loads each model once) and sends back a float32 array. The client
stacks the arrays in partition order, so labels, ids and the index are exactly those of the
single-process build: only where the vectors are computed changes.

`dask_address` is a scheduler address (`tcp://host:8786`), or `local` / `local:N` for a LocalCluster
with N worker processes (one thread each) started for the build and closed after it. Dask is imported
only when an address is set.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from lakehouse.common.progress import Progress
from lakehouse.config import Settings
from lakehouse.search.errors import DaskAddressError, DaskUnavailable

CONNECT_TIMEOUT_S = 10
PARTITIONS_PER_WORKER = 4  # several per worker so a slow one does not hold up the merge


def _embed_partition(texts: list[str], model: str, settings: Settings) -> np.ndarray:
    """Runs on a worker: the worker process's cached embedder for `model`."""
    from lakehouse.search.embed import get_embedder

    return get_embedder(model, settings).embed(texts).astype(np.float32, copy=False)


def partitions(count: int, parts: int) -> list[tuple[int, int]]:
    """`parts` contiguous [start, stop) ranges covering 0..count, sizes differing by at most one."""
    parts = max(1, min(parts, count))
    size, extra = divmod(count, parts)
    out, start = [], 0
    for i in range(parts):
        stop = start + size + (1 if i < extra else 0)
        out.append((start, stop))
        start = stop
    return [r for r in out if r[1] > r[0]]


def local_workers(address: str) -> int | None:
    """N for `local` / `local:N`, None for a scheduler address."""
    head, _, tail = address.partition(":")
    if head.strip().lower() != "local":
        return None
    try:
        n = int(tail) if tail.strip() else 2
    except ValueError:
        raise DaskAddressError(f"dask_address {address!r}: expected local:N with N a whole number of workers") from None
    if n < 1:
        raise DaskAddressError(f"dask_address {address!r}: a LocalCluster needs at least one worker")
    return n


@contextmanager
def dask_client(address: str) -> Iterator[Any]:
    """A distributed Client on `address` (see the module docstring), closed on exit."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - an install without the dask extra
        raise DaskUnavailable(
            f"dask_address is {address!r} but dask.distributed is not installed (pip install 'dask[distributed]')"
        ) from None
    workers = local_workers(address)
    if workers is not None:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0")
        try:
            with Client(cluster) as client:
                yield client
        finally:
            cluster.close()
        return
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        raise DaskUnavailable(
            f"cannot reach the Dask scheduler at dask_address={address!r} (LH_DASK_ADDRESS / --dask): {exc}"
        ) from None
    except ValueError as exc:  # distributed's address parser: "missing port number in address 'bogus'"
        raise DaskAddressError(
            f"dask_address {address!r} (LH_DASK_ADDRESS / --dask): {exc}; use tcp://HOST:PORT or local:N"
        ) from None
    try:
        yield client
    finally:
        client.close()


def embed_on_dask(
    client: Any,
    texts: Sequence[str],
    model: str,
    settings: Settings,
    progress: Progress | None = None,
) -> np.ndarray:
    """Vectors for `texts` computed on the client's workers, in the order of `texts`."""
    from distributed import as_completed

    texts = list(texts)
    workers = max(1, len(client.scheduler_info().get("workers", {})))
    ranges = partitions(len(texts), workers * PARTITIONS_PER_WORKER)
    if not ranges:
        from lakehouse.search.embed import get_embedder

        return get_embedder(model, settings).embed([])
    # the same settings travel once, not with every partition
    settings_future = client.scatter(settings, broadcast=True)
    futures = [
        client.submit(_embed_partition, texts[start:stop], model, settings_future, pure=False) for start, stop in ranges
    ]
    done = 0
    if progress:
        progress("embedding", 0, len(texts))
    position = {f.key: i for i, f in enumerate(futures)}
    results: list[np.ndarray | None] = [None] * len(futures)
    for future in as_completed(futures):
        i = position[future.key]
        results[i] = future.result()
        done += ranges[i][1] - ranges[i][0]
        if progress:
            progress("embedding", done, len(texts))
    return np.concatenate([r for r in results if r is not None]).astype(np.float32, copy=False)


def embed_texts(
    texts: Sequence[str],
    model: str,
    settings: Settings,
    progress: Progress | None = None,
) -> np.ndarray:
    """`embed_on_dask` over a client on `settings.dask_address` for the length of one build."""
    with dask_client(settings.dask_address or "") as client:
        return embed_on_dask(client, texts, model, settings, progress)
