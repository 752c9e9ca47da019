"""Run llama-cpp-python's OpenAI-compatible server with two guards; started by `LocalServer`.

Run as a script by path (not `-m`), so that the server process does not import opendgm or litellm.

1. Weight repacking is off unless OPENDGM_LLAMA_REPACK=1: llama.cpp's AMX repack kills the server with
   SIGSEGV (at `ldtilecfg`) on hosts whose hypervisor advertises AMX without enabling it, and the small
   models opendgm embeds do not need it.
2. The server exits when its parent dies (OPENDGM_PARENT_PID), so a killed campaign leaves no server.
3. Each chat completion reports the prompt tokens the server did not evaluate (their state came from its cache)
   as OpenAI reports cached tokens, `usage.prompt_tokens_details.cached_tokens`, and `timings.prompt_n` /
   `timings.cache_n` as llama.cpp's own server does, from llama.cpp's counters: the ledger records the reuse.
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


def _report_prompt_reuse() -> None:
    import llama_cpp
    import llama_cpp.llama_types as types

    for name in ("CompletionUsage", "CreateChatCompletionResponse"):  # the server's response model keeps the fields
        getattr(types, name).__pydantic_config__ = {"extra": "allow"}
    complete = llama_cpp.Llama.create_chat_completion

    def create_chat_completion(self, *args, **kwargs):  # the server runs one at a time on a model
        context = self._ctx.ctx
        llama_cpp.llama_perf_context_reset(context)
        result = complete(self, *args, **kwargs)
        usage = result.get("usage") if isinstance(result, dict) else None  # a stream is an iterator: left alone
        if isinstance(usage, dict):
            evaluated = llama_cpp.llama_perf_context(context).n_p_eval
            cached = max(usage["prompt_tokens"] - evaluated, 0)
            usage["prompt_tokens_details"] = {"cached_tokens": cached}
            result["timings"] = {"prompt_n": evaluated, "cache_n": cached}
        return result

    llama_cpp.Llama.create_chat_completion = create_chat_completion


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
    _report_prompt_reuse()
    from llama_cpp.server.__main__ import main

    main()
