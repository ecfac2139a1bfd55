"""Embedders: the real MiniLM and WordLlama models offline, litellm over a real HTTP server."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from lakehouse.config import ModelsSettings, ModelTier, Settings
from lakehouse.search.embed import (
    CachedEmbedder,
    EmbedderError,
    UnknownEmbedder,
    get_embedder,
)


def test_minilm_loads_offline_and_embeds_normalised_float32(minilm):
    vectors = minilm.embed(["registered nurse", "ICU nurse caring for patients", "diesel engine mechanic"])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    sims = vectors @ vectors.T
    assert sims[0, 1] > sims[0, 2] + 0.1  # related jobs are closer than unrelated ones


def test_model_is_loaded_once_per_process(minilm):
    assert get_embedder("minilm", Settings()) is minilm
    assert get_embedder(None, Settings()).backend is minilm.backend  # default model is minilm


def test_cache_returns_identical_vectors_without_recomputing(minilm):
    text = "cache probe: night-shift security guard"
    first = minilm.embed([text])
    hits = minilm.hits
    again = minilm.embed([text, text])
    assert minilm.hits == hits + 2
    np.testing.assert_array_equal(again[0], first[0])
    np.testing.assert_array_equal(again[1], first[0])


def test_lru_evicts_the_least_recently_used(minilm):
    small = CachedEmbedder("minilm", minilm.backend, cache_size=2, batch_size=8)
    small.embed(["a one", "b two"])
    small.embed(["a one"])  # a is now the most recent
    small.embed(["c three"])  # evicts b
    assert list(small._cache) == [("minilm", "a one"), ("minilm", "c three")]
    misses = small.misses
    small.embed(["b two"])
    assert small.misses == misses + 1


def test_batches_report_progress(minilm):
    batched = CachedEmbedder("minilm", minilm.backend, cache_size=0, batch_size=4)
    calls = []
    texts = [f"progress text number {i}" for i in range(10)]
    out = batched.embed(texts, progress=lambda stage, done, total: calls.append((stage, done, total)))
    assert out.shape == (10, 384)
    assert calls == [("embedding", 0, 10), ("embedding", 4, 10), ("embedding", 8, 10), ("embedding", 10, 10)]
    np.testing.assert_allclose(out, minilm.embed(texts), atol=1e-5)  # batching changes nothing


def test_bad_input_is_named(minilm):
    with pytest.raises(TypeError, match="not one string"):
        minilm.embed("just a string")
    with pytest.raises(TypeError, match="text 1 is int, expected str"):
        minilm.embed(["fine", 7])
    assert minilm.embed([]).shape == (0, 384)


def test_unknown_model_lists_the_choices():
    with pytest.raises(UnknownEmbedder, match=r"unknown embedding model 'bert-huge'; choose one of: minilm, wordllama"):
        get_embedder("bert-huge", Settings())
    with pytest.raises(UnknownEmbedder, match="needs a model after the colon"):
        get_embedder("litellm:", Settings())


def test_wordllama_loads_from_the_package_without_download():
    wl = get_embedder("wordllama", Settings())
    vectors = wl.embed(["welder", "welding and brazing", "kindergarten teacher"])
    assert vectors.shape == (3, wl.dims) and wl.dims == 256
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


class _EmbeddingServer:
    """An OpenAI-compatible /v1/embeddings endpoint on 127.0.0.1 (deterministic, unnormalised)."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
                data = [
                    {"object": "embedding", "index": i, "embedding": [float(len(t)), 3.0, 4.0, float(i)]}
                    for i, t in enumerate(texts)
                ]
                payload = json.dumps(
                    {
                        "object": "list",
                        "data": data,
                        "model": body["model"],
                        "usage": {"prompt_tokens": 1, "total_tokens": 1},
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()


@pytest.fixture
def embedding_server():
    server = _EmbeddingServer()
    yield server
    server.close()


def test_litellm_backend_calls_the_remote_model_and_normalises(embedding_server, monkeypatch):
    monkeypatch.setenv("FAKE_EMBED_KEY", "sk-test-123")
    tier = ModelTier(model="openai/fake-embed", api_base=embedding_server.url, api_key_env="FAKE_EMBED_KEY")
    settings = Settings(models=ModelsSettings(tiers={"remote_embed": tier}))
    embedder = get_embedder("litellm:remote_embed", settings)
    vectors = embedder.embed(["abc", "abcdef"])
    assert vectors.shape == (2, 4)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(vectors[0], np.array([3, 3, 4, 0]) / np.sqrt(34), atol=1e-6)
    request = embedding_server.requests[-1]
    assert request["path"].endswith("/embeddings") and request["body"]["model"] == "fake-embed"
    assert request["body"]["input"] == ["abc", "abcdef"]
    assert request["auth"] == "Bearer sk-test-123"  # the key came from the environment variable


def test_litellm_failure_is_an_embedder_error():
    tier = ModelTier(model="openai/fake-embed", api_base="http://127.0.0.1:9/v1", api_key_env=None)
    settings = Settings(models=ModelsSettings(tiers={"dead_embed": tier}))
    embedder = get_embedder("litellm:dead_embed", settings)
    with pytest.raises(EmbedderError, match="embedding model 'openai/fake-embed' failed"):
        embedder.embed(["anything"])


# ---------------------------------------------------------------------------- the backend registry
def test_backends_are_one_module_each_behind_the_registry():
    from lakehouse.search.embed import BACKENDS, base

    assert BACKENDS == ("minilm", "wordllama", "litellm:<model>")
    assert {name: entry.factory.__module__ for name, entry in base.REGISTRY.items()} == {
        "minilm": "lakehouse.search.embed.minilm",
        "wordllama": "lakehouse.search.embed.wordllama",
        "litellm": "lakehouse.search.embed.litellm",
    }


def test_a_registered_backend_is_used_by_name(monkeypatch):
    from lakehouse.search.embed import base, register

    monkeypatch.setattr(base, "REGISTRY", dict(base.REGISTRY))

    @register("registry-probe", argument="<dims>")
    class Probe:
        def __init__(self, dims: str, settings: Settings) -> None:
            self.dims = int(dims)

        def encode(self, texts: list[str]) -> np.ndarray:
            return np.ones((len(texts), self.dims), dtype=np.float32)

    vectors = get_embedder("registry-probe:4", Settings()).embed(["a", "b"])
    assert vectors.shape == (2, 4)
    np.testing.assert_allclose(vectors, 0.5)  # normalised by the embedder, whatever the backend gives
    with pytest.raises(ValueError, match="embedding backend 'registry-probe' is registered twice"):
        register("registry-probe")(Probe)


def test_a_backend_without_an_argument_refuses_one():
    with pytest.raises(UnknownEmbedder, match=r"unknown embedding model 'minilm:large'; choose one of: minilm, "):
        get_embedder("minilm:large", Settings())
