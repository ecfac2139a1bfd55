"""Errors of the llm wing: chat configuration problems (a caller's to fix) and provider failures."""

from __future__ import annotations

from lakehouse.errors import ErrorKind, LakehouseError, UnavailableError, UserError

__all__ = [
    "ChatError",
    "ChatNotConfigured",
    "UnknownModel",
    "ApiBaseRefused",
    "ProviderError",
    "EmbeddedModelNotInstalled",
    "EmbeddedModelBroken",
    "EmbeddedPartMissing",
    "EmbeddedChecksumMismatch",
]


class ChatError(LakehouseError, RuntimeError):
    """Base of chat errors a caller can fix (4xx over HTTP). A RuntimeError, as before."""

    kind = ErrorKind.USER
    type = "chat_error"


class ChatNotConfigured(ChatError):
    """No model given and no default, or the chosen model's key/provider is not set up."""

    type = "model_not_configured"


class UnknownModel(ChatError):
    """Neither a configured tier nor a provider litellm knows."""

    type = "unknown_model"


class ApiBaseRefused(ChatError):
    """A caller-supplied api_base points at a host (or port) that is not allowlisted (403)."""

    http_code = 403
    type = "api_base_refused"


class ProviderError(ChatError):
    """The provider answered with an error or could not be reached: unavailable, 502 over HTTP.
    `status` is the provider's own HTTP status, when it answered."""

    kind = ErrorKind.UNAVAILABLE
    http_code = 502
    type = "provider_error"

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message, provider_status=status)
        self.status = status


class GroundingError(UserError):
    """A grounded prompt asked for without any source to ground it in."""


class EmbeddedModelNotInstalled(ChatNotConfigured):
    """The embedded model was asked for but the `local-model` extra is not installed."""

    type = "embedded_model_not_installed"


class EmbeddedModelBroken(UnavailableError):
    """The installed extra cannot give the model: an installation to repair, not a request to fix (503)."""

    type = "embedded_model_broken"


class EmbeddedPartMissing(EmbeddedModelBroken):
    """Some part packages of the embedded model are not installed (or hold no data); `missing` names them."""

    type = "embedded_model_part_missing"


class EmbeddedChecksumMismatch(EmbeddedModelBroken):
    """The parts concatenate to a file whose sha256 is not the pinned one (`expected`, `actual`)."""

    type = "embedded_model_checksum_mismatch"
