"""`python -m bench.bot_process PACER`: the real bot over Socket Mode, paced by PACER (see `bench.pacers`).

The benchmark runs the bot in a process of its own so that its CPU time and memory can be read apart from
the stand-ins'. Settings come from the environment, exactly as for `python -m bot`.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

from bench.pacers import PACERS
from bot.app import create_bot, socket_mode_handler
from bot.logs import setup_logging
from bot.settings import Settings


def main(pacer: str) -> None:
    settings = Settings.from_env(os.environ)
    setup_logging(settings.log_level)
    bot = create_bot(settings, pacing=PACERS[pacer][1](settings))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    socket_mode_handler(bot.app, settings).connect()
    stop.wait()
    os._exit(0)  # the benchmark is over: nothing in flight needs finishing


if __name__ == "__main__":
    main(sys.argv[1])
