"""The fake LLM provider as a process of its own, for the benchmarks.

Runs ``tests.fakes.openai_server.FakeOpenAI`` (the same loopback server the
tests use) on 127.0.0.1, with every chat answer delayed by ``--delay`` seconds,
and without keeping a record of each request (a benchmark sends hundreds of
thousands). Prints ``READY <port>`` once it listens and runs until SIGTERM.

Command (normally started by ``bench/gateway_bench.py``, not by hand):

    .venv/bin/python bench/fake_provider.py --delay 2.0 [--port 0]
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp import web

from tests.fakes.openai_server import FakeOpenAI


class QuietFakeOpenAI(FakeOpenAI):
    """Answers like the test fake but forgets each request once answered."""

    async def _record(self, request: web.Request) -> Any:
        if request.content_type == "application/json":
            return await request.json()
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each chat answer")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server = QuietFakeOpenAI()
    server.start(args.port)
    server.chat_delay = args.delay
    print(f"READY {server.port}", flush=True)
    stop.wait()
    server.stop()


if __name__ == "__main__":
    main()
