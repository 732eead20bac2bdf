"""Chat backends for model-based creators, checkers and repairers: `complete(prompts) -> replies`.

`OpenAIChat` posts to any OpenAI-compatible `/chat/completions` endpoint (vLLM, SGLang, TGI,
a hosted API) with the stdlib's urllib. `EngineChat` runs a vrl model option through a vrl
rollout engine (`hf` or `vllm`) via `engine.generate(model, processor, samples, ...)`.
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from vrl.data.schema import Sample
from vrl.errors import ConfigError

log = logging.getLogger("vrl")


class OpenAIChat:
    """An OpenAI-compatible chat endpoint.

    Args:
        base_url: e.g. http://localhost:8000/v1 (the `/chat/completions` route is appended).
        model: the served model name.
        api_key_env: environment variable holding the API key (unset = no auth header).
        temperature: sampling temperature.
        max_tokens: reply length cap.
        timeout_s: seconds per request.
        retries: extra attempts after a network error or 5xx reply (1 s, 2 s, ... backoff).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key_env: str | None = "OPENAI_API_KEY",
        temperature: float = 0.7,
        max_tokens: int = 2048,
        timeout_s: float = 120.0,
        retries: int = 2,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"flywheel chat base_url={base_url!r}: give an http(s) URL such as http://host:8000/v1"
            )
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model, self.api_key_env = model, api_key_env
        self.temperature, self.max_tokens, self.timeout_s, self.retries = (
            temperature,
            max_tokens,
            timeout_s,
            retries,
        )

    def setup(self, work_dir: Path, corpus: list[str] = ()) -> None:
        """Nothing to load: the endpoint serves the model."""

    def complete(self, prompts: list[str]) -> list[str]:
        """One reply per prompt ("" for a request that failed after every retry; logged)."""
        return [self._one(prompt) for prompt in prompts]

    def _one(self, prompt: str) -> str:
        body = json.dumps(
            {
                "model": self.model,
                "messages": [{"role": "user", "content": prompt}],
                "temperature": self.temperature,
                "max_tokens": self.max_tokens,
            }
        ).encode()
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env or "", "")
        if key:
            headers["Authorization"] = f"Bearer {key}"
        for attempt in range(self.retries + 1):
            try:
                request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    reply = json.loads(response.read())
                return str(reply["choices"][0]["message"]["content"] or "")
            except urllib.error.HTTPError as error:
                if error.code < 500 or attempt == self.retries:
                    log.warning("flywheel chat %s: HTTP %s", self.url, error.code)
                    return ""
            except (urllib.error.URLError, TimeoutError, OSError, KeyError, IndexError, ValueError) as error:
                if attempt == self.retries:
                    log.warning("flywheel chat %s: %s", self.url, type(error).__name__)
                    return ""
            time.sleep(2**attempt)
        return ""


class EngineChat:
    """A vrl model option generating through a vrl rollout engine (text-only prompts).

    Args:
        model: a model option (`VLMSpec`: resolve + load), e.g. the tiny model or Qwen2.5-VL-72B.
        engine: a rollout engine (`HFRolloutEngine`, `VLLMRolloutEngine`).
        path: a model dir to load; null = `model.resolve(<work_dir>/creator_model, prompts)`.
        temperature: sampling temperature.
        max_new_tokens: reply length cap.
    """

    def __init__(
        self,
        model: Any,
        engine: Any,
        path: str | None = None,
        temperature: float = 0.7,
        max_new_tokens: int = 1024,
    ) -> None:
        self.spec, self.engine, self.path = model, engine, path
        self.temperature, self.max_new_tokens = temperature, max_new_tokens
        self._loaded: Any = None
        self._corpus: list[str] = []

    def setup(self, work_dir: Path, corpus: list[str] = ()) -> None:
        """Resolve (build, for the tiny model, with a tokenizer trained on `corpus`) and load once."""
        if self._loaded is None:
            path = self.path or self.spec.resolve(Path(work_dir) / "creator_model", list(corpus) or ["{}"])
            self._loaded = self.spec.load(str(path))

    def complete(self, prompts: list[str]) -> list[str]:
        if self._loaded is None:
            raise RuntimeError("EngineChat.setup(work_dir) must run before complete()")
        model, processor = self._loaded.model, self._loaded.processor
        samples = [
            Sample(id=f"flywheel/prompt/{i}", images=[], prompt=[{"role": "user", "content": p}], answer="")
            for i, p in enumerate(prompts)
        ]
        return self.engine.generate(
            model, processor, samples, n=1, temperature=self.temperature, max_new_tokens=self.max_new_tokens
        )
