"""A small OpenAI-compatible HTTP server, for tests and demos of the model backends.

It speaks the protocol's JSON shapes on ``/v1/models``, ``/v1/chat/completions``
and ``/v1/completions`` (the paths vLLM and llama.cpp's server expose), with
replies scripted by a callable, so a test can play a faithful model, a
hallucinating one or one that follows an injected instruction, and then
inspect exactly what the client sent.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self, cast

__all__ = ["OpenAIStubServer", "RecordedRequest"]

Prompt = str | list[dict[str, Any]]
"""What a reply is scripted from: the prompt (completions) or the messages (chat)."""


@dataclass(frozen=True)
class RecordedRequest:
    """One request the stub received.

    Parameters
    ----------
    method
        ``"GET"`` or ``"POST"``.
    path
        The request path, e.g. ``"/v1/chat/completions"``.
    headers
        The request headers, names in lower case.
    body
        The decoded JSON body (None for a GET or a body that is not JSON).
    status
        The status code the stub answered.
    """

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    status: int


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    stub: OpenAIStubServer


class _Handler(BaseHTTPRequestHandler):
    server_version = "ClarityOpenAIStub/1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a test's output is no place for request lines

    def _stub(self) -> OpenAIStubServer:
        return cast(_Server, self.server).stub

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        stub = self._stub()
        path = self.path.split("?", 1)[0]
        if path in ("/v1/models", "/models"):
            status, payload = 200, stub._models()
        else:
            status, payload = 404, _error(404, f"no route {path}")
        stub._record("GET", path, dict(self.headers.items()), None, status)
        self._send(status, payload)

    def do_POST(self) -> None:
        stub = self._stub()
        path = self.path.split("?", 1)[0]
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body: Any = json.loads(raw or b"null")
        except ValueError:
            body = None
        status, payload = stub._answer(path, body)
        stub._record("POST", path, dict(self.headers.items()), body, status)
        self._send(status, payload)


def _error(status: int, message: str) -> dict[str, Any]:
    kind = {400: "BadRequestError", 404: "NotFoundError", 429: "RateLimitError"}.get(
        status, "ServerError" if status >= 500 else "Error"
    )
    return {"object": "error", "message": message, "type": kind, "param": None, "code": status}


def _tokens(text: str) -> int:
    return len(text.split())


class OpenAIStubServer:
    """A real HTTP server on 127.0.0.1 that answers like an OpenAI-compatible model server.

    Parameters
    ----------
    respond
        Called with the prompt (``/v1/completions``) or the list of messages
        (``/v1/chat/completions``); returns the reply's text.
    model
        The model name it reports (``"model"`` in each reply and ``/v1/models``).
    statuses
        Status codes for the first completion requests, in order (e.g.
        ``[503, 503]`` to fail twice before answering); 200 answers normally,
        any other code answers the protocol's error object. Later requests get 200.
    system_fingerprint
        Reported in each completion when given.

    Examples
    --------
    >>> import httpx
    >>> with OpenAIStubServer(lambda prompt: "Denies SI [1].") as server:
    ...     reply = httpx.post(
    ...         server.url + "/v1/completions", json={"model": "m", "prompt": "Hi"}
    ...     ).json()
    >>> reply["choices"][0]["text"], server.requests[0].body["prompt"]
    ('Denies SI [1].', 'Hi')
    """

    def __init__(
        self,
        respond: Callable[[Prompt], str],
        *,
        model: str = "stub-model",
        statuses: Sequence[int] = (),
        system_fingerprint: str | None = None,
    ) -> None:
        self.respond = respond
        self.model = model
        self.statuses = tuple(statuses)
        self.system_fingerprint = system_fingerprint
        self.requests: list[RecordedRequest] = []
        self._pending: Iterator[int] = iter(self.statuses)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The server's base URL, ``http://127.0.0.1:<port>`` (no ``/v1``)."""
        if self._server is None:
            raise RuntimeError("The OpenAIStubServer is not started; call start() first.")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Self:
        """Start serving on a free port of 127.0.0.1, in a daemon thread.

        Returns
        -------
        OpenAIStubServer
            This server, started.
        """
        if self._server is None:
            server = _Server(("127.0.0.1", 0), _Handler)
            server.stub = self
            self._server = server
            self._thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and release the port."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def bodies(self, path: str | None = None) -> list[Any]:
        """Return the JSON bodies received, optionally only those posted to ``path``.

        Parameters
        ----------
        path
            E.g. ``"/v1/chat/completions"``; None for every request.

        Returns
        -------
        list
            The bodies, oldest first.
        """
        with self._lock:
            return [r.body for r in self.requests if path is None or r.path == path]

    def _record(
        self, method: str, path: str, headers: dict[str, str], body: Any, status: int
    ) -> None:
        lowered = {k.lower(): v for k, v in headers.items()}
        with self._lock:
            self.requests.append(RecordedRequest(method, path, lowered, body, status))

    def _models(self) -> dict[str, Any]:
        entry = {"id": self.model, "object": "model", "created": 0, "owned_by": "clarity"}
        return {"object": "list", "data": [entry]}

    def _answer(self, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        chat = path in ("/v1/chat/completions", "/chat/completions")
        if not chat and path not in ("/v1/completions", "/completions"):
            return 404, _error(404, f"no route {path}")
        with self._lock:
            status = next(self._pending, 200)
            number = next(self._ids)
        if status != 200:
            return status, _error(status, "scripted failure")
        key = "messages" if chat else "prompt"
        if not isinstance(body, dict) or key not in body:
            return 400, _error(400, f"the body must be a JSON object with '{key}'")
        prompt: Prompt = body[key]
        try:
            text = self.respond(prompt)
        except Exception as error:  # a broken script answers 500, never kills the thread
            return 500, _error(500, f"respond raised {type(error).__name__}")
        if chat:
            choice: dict[str, Any] = {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
            sent = " ".join(str(m.get("content", "")) for m in prompt if isinstance(m, dict))
        else:
            choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": "stop"}
            sent = str(prompt)
        reply: dict[str, Any] = {
            "id": f"{'chatcmpl' if chat else 'cmpl'}-stub-{number}",
            "object": "chat.completion" if chat else "text_completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [choice],
            "usage": {
                "prompt_tokens": _tokens(sent),
                "completion_tokens": _tokens(text),
                "total_tokens": _tokens(sent) + _tokens(text),
            },
        }
        if self.system_fingerprint is not None:
            reply["system_fingerprint"] = self.system_fingerprint
        return 200, reply
