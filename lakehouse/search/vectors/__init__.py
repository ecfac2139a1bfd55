"""Per-corpus HNSW indexes: `VectorIndex` (one hnswlib index) and `CorpusManager` (`Lakehouse.corpora`)."""

from lakehouse.search.vectors.corpus import Activity, BuildResult, CorpusManager
from lakehouse.search.vectors.index import HnswParams, VectorIndex
from lakehouse.search.vectors.loaded import LoadedCorpus, RawHit
from lakehouse.search.vectors.manifest import (
    CorpusError,
    CorpusExists,
    CorpusNotFound,
    Manifest,
    SourceSpec,
)

__all__ = [
    "Activity",
    "BuildResult",
    "CorpusManager",
    "HnswParams",
    "VectorIndex",
    "LoadedCorpus",
    "RawHit",
    "CorpusError",
    "CorpusExists",
    "CorpusNotFound",
    "Manifest",
    "SourceSpec",
]
