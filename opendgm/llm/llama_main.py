"""Run llama-cpp-python's OpenAI-compatible server with two guards; started by `LocalServer`.

Run as a script by path (not `-m`), so that the server process does not import opendgm or litellm.

1. Weight repacking is off unless OPENDGM_LLAMA_REPACK=1: llama.cpp's AMX repack kills the server with
   SIGSEGV (at `ldtilecfg`) on hosts whose hypervisor advertises AMX without enabling it, and the small
   models opendgm embeds do not need it.
2. The server exits when its parent dies (OPENDGM_PARENT_PID), so a killed campaign leaves no server.
"""

import os
import threading
import time


def _disable_weight_repack() -> None:
    import llama_cpp.llama_cpp as lib

    defaults = lib.llama_model_default_params

    def params():  # the ctypes struct llama_model_params
        p = defaults()
        p.use_extra_bufts = False
        return p

    lib.llama_model_default_params = params


def _exit_with_parent(parent: int) -> None:
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


if __name__ == "__main__":
    if os.environ.get("OPENDGM_LLAMA_REPACK") != "1":
        _disable_weight_repack()
    if os.environ.get("OPENDGM_PARENT_PID"):
        _exit_with_parent(int(os.environ["OPENDGM_PARENT_PID"]))
    from llama_cpp.server.__main__ import main

    main()
