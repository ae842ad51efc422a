"""The test site of the Redis backend tests: ``gunicorn -w 3`` serving tests/backends/siteapp."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.support import SiteProcess, eventually
from tests.support.polling import source_of


class Site(SiteProcess):
    """``gunicorn -w 3`` serving tests/backends/siteapp on the Redis backend."""

    def __init__(
        self,
        redis_url: str,
        prefix: str,
        preload: bool = False,
        key: str = "",
        env: dict[str, str] | None = None,
    ) -> None:
        self.key = key
        super().__init__(
            "redis-site",
            app="tests.backends.site_wsgi:application",
            settings="tests.backends.site_settings",
            ready="/ready/",
            env={
                "BERRYMQ_SITE_REDIS_URL": redis_url,
                "BERRYMQ_SITE_PREFIX": prefix,
                "BERRYMQ_SITE_KEYS": json.dumps({"tests": key} if key else {}),
                **(env or {}),
            },
            # preload: Django set up in the master, workers forked
            gunicorn={"workers": 3, "preload_app": preload},
        )

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        response = self.http.get(path, params=params, timeout=10)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def rpc(self, method: str, **params: Any) -> tuple[dict[str, Any], int]:
        """Call the JSON-RPC endpoint; return the response body and the worker's pid."""
        response = self.http.post(
            "/berrymq/rpc/",
            json={"jsonrpc": "2.0", "method": method, "params": params, "id": 1},
            headers={"Authorization": f"Bearer {self.key}"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return response.json(), int(response.headers["X-Worker-Pid"])

    def from_every_worker(self, path: str, done: Any, timeout: float = 30.0, **params: Any):
        """Call path concurrently until done(answers by pid) holds for three workers."""
        answers: dict[int, dict[str, Any]] = {}

        def ask() -> dict[int, dict[str, Any]]:
            for answer in pool.map(lambda _: self.get(path, **params), range(6)):
                answers[answer["pid"]] = answer
            return answers

        with ThreadPoolExecutor(6) as pool:
            return eventually(
                ask,
                until=lambda answers: len(answers) >= 3 and all(map(done, answers.values())),
                timeout=timeout,
                interval=0,
                what=f"three workers to answer {path} so that {source_of(done)}",
            )
