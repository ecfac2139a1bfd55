"""Errors of the search wing: embedders, vector corpora, the matrix indexer, playbooks."""

from __future__ import annotations

from lakehouse.errors import ConflictError, ErrorKind, LakehouseError, NotFoundError, UnavailableError, UserError

__all__ = [
    "EmbedderError",
    "UnknownEmbedder",
    "EmbedInputError",
    "BackendDefinitionError",
    "CorpusError",
    "CorpusNotFound",
    "CorpusExists",
    "CorpusLiveChanged",
    "CorpusWriteConflict",
    "AdapterError",
    "MatrixError",
    "FilterError",
    "PlaybookError",
    "PlaybookConflict",
    "DaskUnavailable",
    "DaskAddressError",
]


class EmbedderError(UnavailableError):
    """An embedding model could not be loaded or failed to answer."""


class UnknownEmbedder(EmbedderError, UserError):
    """No embedder by that name: the caller's input is wrong, not the model."""

    kind = ErrorKind.USER


class EmbedInputError(LakehouseError, TypeError):
    """`embed()` was given something other than a list of strings (a TypeError, as before)."""

    kind = ErrorKind.USER


class BackendDefinitionError(LakehouseError, ValueError):
    """An embedding backend was registered wrongly (twice under one name); raised at import: our bug."""

    kind = ErrorKind.INTERNAL


class CorpusError(UserError):
    """A corpus request that cannot be carried out; the message names what is wrong."""


class CorpusNotFound(CorpusError, NotFoundError):
    kind = ErrorKind.NOT_FOUND


class CorpusManifestUnreadable(CorpusError):
    """The live manifest of a corpus cannot be read (a torn write); its kept generations can be
    made live again (`promote`, `rollback`) and `drop` removes it, none of which reads it."""


class CorpusExists(CorpusError, ConflictError):
    kind = ErrorKind.CONFLICT


class CorpusWriteConflict(CorpusError, ConflictError):
    """Another writer named the generation this write was about to name, or changed the live
    manifest since this write read it (one of the two had lost the corpus lock); nothing of this
    write is live."""

    kind = ErrorKind.CONFLICT


class CorpusLiveChanged(CorpusError, ConflictError):
    """A promote or rollback asked for while another generation was live than the caller saw
    (another tab, operator or job switched it since): nothing changed."""

    kind = ErrorKind.CONFLICT


class MatrixError(UserError):
    pass


class FilterError(UserError):
    """A metadata filter that cannot be read (`lakehouse.search.filters.parse_pairs`)."""


class PlaybookError(UserError):
    pass


class PlaybookConflict(PlaybookError, ConflictError):
    """An entry's id already names another judgement; nothing was stored."""

    kind = ErrorKind.CONFLICT


class AdapterError(CorpusError):
    """Adapter bytes that cannot be read, or an adapter whose shapes do not fit together."""


class DaskUnavailable(UnavailableError):
    """`dask_address` is set but no Dask scheduler answers there (or dask is not installed)."""


class DaskAddressError(UserError):
    """`dask_address` is malformed (`local:N` with a bad N)."""
