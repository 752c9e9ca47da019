"""The grading harness that runs inside a grading sandbox (standard library only; `python3 -I -S`).

Started outside the repository, with isolated flags, so no repository file is on its import path. It reads
a nonce the host left in a file and deletes the file before any agent code runs, makes itself
non-dumpable (a same-user process cannot read its memory or its descriptors), and runs the tests in a
child process:

- `unittest START PATTERN`: the child imports the hidden tests (which import the solution: the tests and
  the code they test share one process) and runs them itself, one record per test on a private pipe.

  Guaranteed, against any code the tests import or call, short of defeating the interpreter:
  * a record exists only if the guard wrote it. The record key is read before any repository code runs and
    kept only by an audit hook (`sys.addaudithook`: cannot be removed, referenced by nothing but the
    interpreter), whose code and globals are a private copy of this file. The hook writes a test's record
    only for an event raised by the runner's own frame with nothing but the runner below it, on the main
    thread; code that reaches for what hides the key (the garbage collector's object graph, ctypes, this
    process's private /proc files or the record pipe, trace/profile functions, another audit hook, other
    threads' frames, a function's code, a test object's class) is refused: a second hook, which holds nothing
    but the reasons, raises in the code that asked, so that test fails and no other; the process is not
    dumpable, so what it starts cannot read its memory either;
  * a test passes only if its setUp, method, tearDown and cleanups returned without raising, decided by the
    runner here (not TestCase.run and its helpers); skips and "expected failures" fail; an
    IsolatedAsyncioTestCase's are run on the event loop that class makes for each test; doctests fail;
  * what ran is a hidden test: every class of the test's is the runner's or one of the hidden files' (whose
    namespace holds only data and functions compiled from the hidden files, or standard library decorators
    around them), unchanged since discovery; the method is the function compiled from the hidden file for
    that class and name (or made in a function of the hidden file, as generated tests are), in the namespace
    the import system made for that file, whose modules are the real ones, with the real builtins; the
    hidden files' namespaces and their classes' still hold the functions, classes and modules they held when
    the tests were loaded, and nothing new under a test's, the runner's or a builtin's name (fixtures may
    keep anything else there);
  * at each record the code that decides a pass is as it was before any repository code ran: the modules
    of DECISIVE then loaded (unittest and the parts of it the hidden files use, the modules its assertions
    call, builtins, this harness) and every class and function in them (their code, defaults, closures),
    except plain data and the names meant to be replaced (REPLACEABLE); every assertion checks, as it
    starts, that the test object hides none of the runner's methods. The rest of the standard library is
    the tests' to patch, undone or not, as plain unittest allows.

  Not guaranteed: a change made during a test and undone before its record (by a finalizer, a thread, a
  later call), to what is checked only at records: module namespaces, class namespaces, the test object's
  attributes in the middle of an assertion, what the hidden test's own namespace holds (the code under
  test is the solution's anyway). What the tests compute with patched non-deciding modules is, like the
  expected values the tests hold, within the solution's reach: it shares their process.
  Code that defeats the interpreter itself is out of reach of anything in-process; running the tests in
  another process from the solution is the cure (as `call` does), not possible for arbitrary unittest code.
- `call SOLUTION ENTRY STUB TEST`: HumanEval. The problem's `check` runs here, in this process, against a
  proxy of the solution's function: each call goes to the child, which imports the solution and answers
  with plain data only. So `check` returning is confirmed by the harness itself; nothing the solution does
  in its own process (exit hooks, patched builtins, objects equal to everything) can make it pass. The child
  is this process forked before the nonce is read (no second interpreter start-up): it holds neither the nonce
  nor the check, and runs nothing until this process has read and deleted both and made itself non-dumpable.

The result is one line on stdout, `opendgm-result <HMAC of the JSON under the nonce> <json>`, after the child's
output: the nonce is never printed, so a process that reads the line off the exec's pipe cannot write another.
"""

import os
import sys

TYPE_CHECKING = False  # typing's import is a tenth of a grading's start-up; only mypy reads the annotations
if TYPE_CHECKING:
    from typing import Any

if not sys.argv[1:2] or not sys.argv[1].startswith("child-"):
    # Only the harness's own process needs these: the unittest process (the solution's code) starts without them.
    # None of them loads enum or re (signal's and json's Python halves do): a sixth of a grading's start-up.
    import select
    import time
    from _signal import SIGKILL  # type: ignore[import-not-found]

    try:  # the interpreter's own SHA-256: hashlib and hmac would load OpenSSL, a tenth of a grading's start-up
        from _sha2 import sha256  # type: ignore[import-not-found]
    except ImportError:
        try:
            from _sha256 import sha256  # type: ignore[import-not-found]
        except ImportError:
            from hashlib import sha256

NONCE_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nonce")
LOG_TAIL = 4000
RECORD_LIMIT = 16 * 2**20
PR_SET_DUMPABLE = 4


def _json_codec():
    """(dumps, loads) from the C encoder and scanner `json` itself runs, without importing `json` (whose Python
    half loads re and enum); `json` where this interpreter lacks them. Same text and same errors as json's
    defaults but the separators (no spaces): ValueError for text that is not one JSON value."""
    try:
        from _json import encode_basestring_ascii, make_encoder, make_scanner
    except ImportError:
        import json

        return json.dumps, json.loads

    class Options:  # what the C scanner reads of json.JSONDecoder
        strict, object_hook, object_pairs_hook, parse_float, parse_int = True, None, None, float, int
        parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}.__getitem__

    def unencodable(value):
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")

    encoder = make_encoder({}, unencodable, encode_basestring_ascii, None, ":", ",", False, False, True)
    scan = make_scanner(Options())  # type: ignore[arg-type]  # (typeshed wants a JSONDecoder: the same fields)

    def dumps(value):
        return "".join(encoder(value, 0))

    def loads(text):
        text = text.decode() if isinstance(text, bytes) else text
        stripped = text.strip(" \t\n\r")
        try:
            value, end = scan(stripped, 0)
        except StopIteration:
            raise ValueError("not a JSON value") from None
        if end != len(stripped):
            raise ValueError("extra data after a JSON value")
        return value

    return dumps, loads


json_dumps, json_loads = _json_codec()


def main(argv):
    mode, args = argv[0], argv[1 : argv.index("--timeout")]
    log_path = os.path.join(os.path.dirname(NONCE_FILE), "child.log")
    with open(log_path, "wb") as log:
        # `call`'s solution process is forked now, before the nonce is read: it never holds it, and it waits
        # (running nothing) until this process has deleted the nonce file and made itself non-dumpable
        forked = _fork(log, lambda fds: child_call(args[0], args[1], *fds)) if mode == "call" else None
        with open(NONCE_FILE) as handle:
            nonce = handle.read().strip()
        os.unlink(NONCE_FILE)
        _not_dumpable()
        deadline = time.monotonic() + float(argv[argv.index("--timeout") + 1])
        if mode == "unittest":
            result = run_unittest(args, log, deadline)
        elif forked is not None:
            result = run_call(args, forked, deadline)
        else:
            result = {"outcomes": {}, "notes": [f"unknown harness mode {mode!r}"], "timed_out": False}
    with open(log_path, "rb") as log:
        log.seek(max(0, os.path.getsize(log_path) - LOG_TAIL))
        sys.stdout.write(log.read().decode("utf-8", "replace") + "\n")
    body = json_dumps(result)
    signed = hmac_sha256(nonce.encode(), body.encode())
    sys.stdout.write(f"opendgm-result {signed} {body}\n")
    sys.stdout.flush()


def hmac_sha256(key, message):
    """HMAC-SHA256 (RFC 2104) as hex, what the host's `hmac` checks (`channel.signature`)."""
    key = (sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\0")
    inner = sha256(bytes(byte ^ 0x36 for byte in key) + message).digest()
    return sha256(bytes(byte ^ 0x5C for byte in key) + inner).hexdigest()


def _not_dumpable():
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _spawn(args, log, fds):
    import subprocess

    return subprocess.Popen(
        [sys.executable, "-I", "-S", os.path.abspath(__file__), *args],
        pass_fds=fds,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


class Forked:
    """A child forked by `_fork`: its pipes' host ends (`fds`), `start` to let it run, `wait` to reap it."""

    def __init__(self, pid, go, fds):
        self.pid, self.go, self.fds = pid, go, fds

    def start(self):
        os.write(self.go, b"1")
        os.close(self.go)

    def wait(self):
        try:  # noqa: SIM105 (contextlib loads enum: a tenth of a grading's start-up)
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass


def _fork(log, run):
    """A child process (this interpreter, forked: no second start-up) in a session of its own, its output to
    `log`, holding nothing of this process's but two pipes: `run(request_fd, response_fd)` once `start`ed.
    Call it before anything secret is read: the child has a copy of this process as it was."""
    req_r, req_w = os.pipe()
    resp_r, resp_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid:
        for fd in (req_r, resp_w, go_r):
            os.close(fd)
        return Forked(pid, go_w, (req_w, resp_r))
    status = 1
    try:
        os.setsid()
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        low = 3
        for fd in sorted((req_r, resp_w, go_r)):
            os.closerange(low, fd)
            low = fd + 1
        os.closerange(low, os.sysconf("SC_OPEN_MAX"))
        if os.read(go_r, 1) == b"1":  # else the harness ended without starting it
            os.close(go_r)
            run((req_r, resp_w))
            status = 0
    except BaseException:
        sys.excepthook(*sys.exc_info())
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:  # noqa: SIM105
                stream.flush()
            except BaseException:
                pass
        os._exit(status)


def _end(child):
    """Kill the child's whole session (what it left running too) and reap it."""
    try:  # noqa: SIM105
        os.killpg(child.pid, SIGKILL)
    except OSError:
        pass
    child.wait()


# -- unittest -----------------------------------------------------------------------------------
def run_unittest(args, log, deadline):
    import secrets

    key = secrets.token_hex(16)
    key_r, key_w = os.pipe()
    rec_r, rec_w = os.pipe()
    os.write(key_w, key.encode())
    os.close(key_w)
    child = _spawn(["child-unittest", *args, str(key_r), str(rec_w)], log, (key_r, rec_w))
    os.close(key_r)
    os.close(rec_w)
    outcomes: dict[str, bool] = {}
    notes, timed_out, buffer, total = [], False, b"", 0
    prefix = key.encode() + b" "
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        ready, _, _ = select.select([rec_r], [], [], min(left, 0.5))
        if not ready:
            if child.poll() is not None:
                break  # the child is gone; a process it left may hold the pipe open
            continue
        chunk = os.read(rec_r, 65536)
        if not chunk:
            break
        total += len(chunk)
        if total > RECORD_LIMIT:
            notes.append("the test process wrote too much on the result pipe")
            break
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if line.startswith(prefix):  # else not the guard's (it would know the key)
                _take_record(line[len(prefix) :].split(b" "), outcomes, notes)
    _end(child)
    os.close(rec_r)
    if any(note.startswith("the test process changed") for note in notes):
        outcomes = {test: False for test in outcomes}
    return {"outcomes": outcomes, "notes": notes, "timed_out": timed_out}


def _take_record(fields, outcomes, notes):
    """One guard record: `test 1|0 <hex id>`, `note <hex text>` or `tampered <hex text>`."""
    try:
        text = bytes.fromhex(fields[-1].decode()).decode("utf-8", "replace")
    except (ValueError, IndexError):
        return
    note = {b"tampered": "the test process changed the test runner", b"note": "a test that ran is not a hidden one"}
    if fields[0] in note and len(fields) == 2:
        if f"{note[fields[0]]}: {text}" not in notes:
            notes.append(f"{note[fields[0]]}: {text}")
    elif fields[0] == b"test" and len(fields) == 3:
        outcomes[text] = outcomes.get(text, True) and fields[1] == b"1"


def child_unittest(start, pattern, key_fd, rec_fd):
    """Import the hidden tests and run them: each test's outcome is decided by `_run_tests` and written by
    the guard (`_install_guard`), which alone holds the record key (what that guarantees: the module's
    docstring)."""
    audit = sys.audit  # a local: the module `sys`'s attributes may be replaced, this frame's locals cannot
    import builtins
    import unittest

    key = os.read(int(key_fd), 64)
    os.close(int(key_fd))
    repo = os.path.abspath(os.getcwd())
    top = os.path.abspath(os.path.join(repo, start))
    # where the tests start at the repository's root, its other files are the agent's
    hidden = _hidden_code(top, pattern if top == repo else "*.py")
    _preload(hidden)
    async_case = sys.modules.get("unittest.async_case")
    async_base = vars(async_case)["IsolatedAsyncioTestCase"] if async_case is not None else None
    # What decides a test's outcome, taken now into this frame's locals and passed down as arguments: a module's
    # names can be rebound by the tests and put back before the record looks, a frame's locals cannot.
    parts = (_run_one, _invoke, _is_parked, _parked, *_asyncio_parts())
    _guard_assertions(unittest.TestCase, repo, hidden)
    _not_dumpable()  # no process the tests start can read this one's memory (the key is in it)
    with open(os.path.abspath(__file__), "rb") as handle:
        own_source = handle.read()
    # The guard runs from a private copy of this file: its functions' globals and builtins are a namespace
    # nothing else references, so no repository code can rebind a name the guard uses.
    private: dict[str, Any] = {"__name__": "opendgm_guard", "__file__": __file__, "__builtins__": dict(vars(builtins))}
    exec(compile(own_source, __file__, "exec", dont_inherit=True), private)
    runners = {_run_tests.__code__, child_unittest.__code__}
    private["_install_guard"](key, int(rec_fd), hidden, runners)
    del key, private
    for folder in (repo, top):  # after the standard library: nothing here shadows it or the runner
        if folder not in sys.path:
            sys.path.append(folder)
    suite = unittest.TestLoader().discover(top, pattern, top_level_dir=top)
    failures = _run_tests(tuple(_flatten(suite)), audit, async_base, parts)
    for test, trace in failures:  # the log says why, the pipe said what
        print(f"{test}\n{trace}", flush=True)


PRELOADS = (  # what the hidden files name -> the lazily imported runner modules their tests then use
    ("IsolatedAsyncioTestCase", ("asyncio", "unittest.async_case")),
    ("mock", ("unittest.mock",)),
    ("assertLogs", ("logging", "unittest._log")),
    ("assertNoLogs", ("logging", "unittest._log")),
)


def _preload(hidden):
    """Import, before any repository code runs, the parts of unittest that it imports only on first use and
    that the hidden files use (mock's assertions, assertLogs, async test cases): loaded now, they are part of
    the runner's world the guard keeps unchanged; loaded later, repository code could have replaced them."""
    import importlib

    source = b"".join(_sources.get(path, b"") for path in hidden)
    for word, modules in PRELOADS:
        if word.encode() in source:
            for module in modules:
                importlib.import_module(module)
    if "asyncio" in sys.modules:  # its policy is made on first use: made now, it is the runner's
        sys.modules["asyncio"].get_event_loop_policy()


def _flatten(suite):
    for test in suite:
        if hasattr(test, "_tests"):
            yield from _flatten(test)
        else:
            yield test


def _run_tests(tests, audit, async_base, parts):
    """Run each test here, not through TestCase.run (whose helpers the tests can reach): a test passes when
    its setUp, method, tearDown and cleanups return without raising (a skip or an "expected failure" fails),
    decided in frames whose locals no test can change; each outcome goes to the guard as an audit event
    raised from this frame."""
    failures: list[tuple[str, str]] = []
    ready: dict[int, tuple[Any, bool]] = {}
    audit("opendgm.loaded", tests)
    for index, test in enumerate(tests):
        kind, name = type(test), getattr(test, "_testMethodName", "")
        module = sys.modules.get(getattr(kind, "__module__", ""), None)
        for owner, fixture in ((module, "setUpModule"), (kind, "setUpClass")):
            if id(owner) not in ready:
                ready[id(owner)] = (owner, _fixture(failures, owner, fixture))
        method = _find(kind, name)
        asynchronous = vars(async_base) if async_base is not None and async_base in kind.__mro__ else None
        ready_to_run = ready[id(module)][1] and ready[id(kind)][1] and method is not None
        label = f"{kind.__qualname__}.{name}"
        passed = parts[0](test, method if ready_to_run else None, asynchronous, failures, label, parts)
        audit("opendgm.record", test, kind, name, method, passed is True)
        later = tests[index + 1 :]
        if not any(type(other) is kind for other in later):
            _fixture(failures, kind, "tearDownClass")
            _fixture(failures, kind, "doClassCleanups")
        if not any(sys.modules.get(getattr(type(other), "__module__", "")) is module for other in later):
            _fixture(failures, module, "tearDownModule")
    return failures


def _asyncio_parts():
    """asyncio's functions an async test case's run depends on (None without asyncio loaded)."""
    if "asyncio" not in sys.modules:
        return (None, None, None, None)
    import asyncio
    import contextvars

    return (asyncio.iscoroutinefunction, contextvars.Context.run, asyncio.BaseEventLoop.stop, asyncio.Future)


def _run_one(test, method, asynchronous, failures, label, parts):
    """Whether one test's setUp, method (None: not to be run) and tearDown, then its cleanups, all returned
    without raising. An IsolatedAsyncioTestCase's (`asynchronous`: that class's namespace) on the event loop
    that class makes for each test, each part judged by `_invoke`, not by what the loop reports. `parts`:
    what `child_unittest` took before repository code ran, used from this frame's locals only."""
    invoke, loop, passed = parts[1], None, method is not None
    if asynchronous is not None:
        asynchronous["_setupAsyncioRunner"](test)
        space = vars(test)  # as that class just set them: no test code has run since
        loop = (space["_asyncioRunner"], space["_asyncioTestContext"])
    try:
        if passed:
            try:
                invoke(parts, loop, _find(type(test), "setUp"), (test,), {})
                if asynchronous is not None:
                    invoke(parts, loop, _find(type(test), "asyncSetUp"), (test,), {})
                try:
                    if invoke(parts, loop, method, (test,), {}) is not None:  # a coroutine or generator not run
                        raise TypeError("the test method returned a value instead of running")
                finally:
                    if asynchronous is not None:
                        invoke(parts, loop, _find(type(test), "asyncTearDown"), (test,), {})
                    invoke(parts, loop, _find(type(test), "tearDown"), (test,), {})
            except:  # noqa: E722 (bare: no name a test could rebind; SystemExit fails the test too)
                passed = False
                failures.append((label, _trace()))
        for function, args, kwargs in reversed(getattr(test, "_cleanups", None) or ()):
            try:
                invoke(parts, loop, function, args, kwargs)
            except:  # noqa: E722
                passed = False
                failures.append((f"{label} (cleanup)", _trace()))
    finally:
        if asynchronous is not None:
            try:
                asynchronous["_tearDownAsyncioRunner"](test)
            except:  # noqa: E722
                passed = False
                failures.append((f"{label} (event loop)", _trace()))
    return passed


def _invoke(parts, loop, function, args, kwargs):
    """Call one part of a test (None: nothing to call). In an async test case (`loop`: its runner and
    context) a coroutine function's coroutine runs on the test's loop wrapped in `_parked`, and it returned
    only if the wrapper then stands parked after it: a frame's position is the one thing code on the loop
    cannot change (a task can be told it is done, a loop can be replaced), and only the coroutine returning
    moves the wrapper there."""
    if function is None:
        return None
    if loop is None:
        return function(*args, **kwargs)
    runner, context = loop
    is_parked, parked, is_async, run_in, stop, future = parts[2:8]
    if not is_async(function):
        return run_in(context, function, *args, **kwargs)
    wrapper = parked(function(*args, **kwargs), stop, future)
    try:
        runner.run(wrapper, context=context)
    except:  # noqa: E722 (the loop stopped by the wrapper, or the coroutine's own failure)
        if not is_parked(wrapper, parked):
            raise
    if not is_parked(wrapper, parked):
        raise RuntimeError("the test's coroutine did not run to its end on its event loop")
    return None


async def _parked(coroutine, stop, future):
    await coroutine
    stop(future().get_loop())  # only reached once the coroutine returned: the loop stops, this frame stays
    await future()  # the line `_is_parked` looks for: the third after the definition


def _is_parked(wrapper, parked):
    frame = wrapper.cr_frame
    code = parked.__code__
    return frame is not None and frame.f_code is code and frame.f_lineno == code.co_firstlineno + 3


def _fixture(failures, owner, name):
    """Call a class's or module's fixture if it has one; whether it returned."""
    fixture = getattr(owner, name, None)
    if fixture is None:
        return True
    try:
        fixture()
        return True
    except:  # noqa: E722
        failures.append((f"{getattr(owner, '__qualname__', getattr(owner, '__name__', '?'))}.{name}", _trace()))
        return False


def _find(kind, name):
    """The function `name` of a class, from its classes' own namespaces (not through the instance)."""
    for klass in getattr(kind, "__mro__", ()):
        if name in vars(klass):
            return vars(klass)[name]
    return None


def _call(test, name):
    method = _find(type(test), name)
    if method is not None:
        method(test)


def _trace():
    """The current exception's traceback, for the log (what the guard refused to show leaves it short)."""
    import traceback

    kind = sys.exc_info()[0]
    try:
        return traceback.format_exc()
    except:  # noqa: E722 (a frame the guard keeps to itself is on the way)
        return f"{getattr(kind, '__name__', kind)} (its traceback passes through the grading harness's guard)"


def _hidden_code(top, pattern):
    """Every code object of the hidden test files under `top` (named by `pattern`, as discovery finds them),
    compiled from their source before any repository code runs: {path: {qualified name: [code, ...]}}."""
    import fnmatch

    found = {}
    for folder, _dirs, files in os.walk(top):
        for name in files:
            if name.endswith(".py") and fnmatch.fnmatch(name, pattern):
                path = os.path.join(folder, name)
                found[path] = _codes_of(path)
    return found


_sources: dict[str, bytes] = {}  # the files `_codes_of` read, by path


def _codes_of(path):
    """{qualified name: [code, ...]} of a Python file, compiled from its source (empty if it does not compile)."""
    try:
        with open(path, "rb") as handle:
            _sources[path] = handle.read()
        codes = [compile(_sources[path], path, "exec", dont_inherit=True)]
    except (OSError, SyntaxError, ValueError):
        return {}
    by_name: dict[str, list[Any]] = {}
    while codes:
        code = codes.pop()
        by_name.setdefault(code.co_qualname, []).append(code)
        codes.extend(const for const in code.co_consts if type(const) is type(code))
    return by_name


REFUSED_EVENTS = (
    "sys.settrace", "sys.setprofile", "sys._current_frames",
    "gc.get_objects", "gc.get_referrers", "gc.get_referents",
)  # fmt: skip
REFUSED_MODULES = ("_testcapi", "_testinternalcapi", "_xxsubinterpreters", "_xxinterpchannels")


def _install_guard(key, rec_fd, hidden, runners):
    """The audit hook that holds the record key and writes every record (`sys.addaudithook`: a hook cannot be
    removed, and nothing references it but the interpreter).

    A record is written only for an `opendgm.record` event raised by `_run_tests` with nothing but the
    runner's own frames below it, on the main thread; "passed" only if the test is a hidden one
    (`_verify_test`) and the runner's world is as it was (`_Snapshot.changes`). An event that reaches for
    what the key is kept from (the garbage collector's object graph, memory through ctypes or /proc,
    trace and profile functions, other audit hooks, this hook's frames) writes a `tampered` record at once,
    which cannot be taken back and fails every test."""
    import _thread
    import types

    snapshot = _Snapshot()
    main_frame = sys._getframe()
    while main_frame.f_back is not None:
        main_frame = main_frame.f_back
    main_thread, proc_dev = _thread.get_ident(), os.stat("/proc").st_dev
    pipe = os.fstat(rec_fd)
    pipe_id = (pipe.st_dev, pipe.st_ino)
    getframe, write, stat, get_ident, code_type = (
        sys._getframe,
        os.write,
        os.stat,
        _thread.get_ident,
        type(_trace.__code__),
    )
    busy: set[int] = set()
    modules_of_hidden: dict[str, dict[str, Any]] = {}
    discovered: dict[int, tuple[type, dict[str, Any]]] = {}
    hidden_spaces: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    prefix = key + b" "

    def strict_global(name):
        return name in snapshot.builtins or name.startswith("__")

    def emit(line):
        try:  # noqa: SIM105 (contextlib is not loaded in the test process)
            write(rec_fd, prefix + line + b"\n")
        except:  # noqa: E722 (the pipe closed by the tests: the records missing fail them)
            pass

    def tamper(reason):
        emit(b"tampered " + reason[:300].encode("utf-8", "replace").hex().encode())

    def from_the_runner(depth):
        frame: Any = getframe(depth)
        while frame is not None:
            if frame is main_frame:
                return True
            if frame.f_code not in runners:
                return False
            frame = frame.f_back
        return False

    def record(args):
        test, kind, name, method, passed = args
        if get_ident() != main_thread or not from_the_runner(3):
            return tamper("a test's outcome was reported from outside the runner")
        module = vars(kind).get("__module__") if type(kind) is type else None
        if type(name) is not str or type(module) is not str:
            return tamper("a test's outcome was reported for something that is not a test")
        changed = snapshot.changes()
        if changed:
            tamper(changed)
        try:
            foreign = _verify_test(test, kind, name, method, hidden, modules_of_hidden, snapshot, discovered)
            for path, (namespace, before) in hidden_spaces.items():
                if not foreign and (not _str_keys(namespace) or _grown(before, namespace, strict_global)):
                    foreign = f"{path}: its names changed after the tests were loaded"
        except:  # noqa: E722 (what cannot be checked is not vouched for)
            foreign = f"{name}: the test could not be checked"
        if foreign:
            emit(b"note " + foreign[:300].encode("utf-8", "replace").hex().encode())
        test_id = f"{module}.{kind.__qualname__}.{name}"
        ok = passed is True and not changed and not foreign
        emit(b"test " + (b"1" if ok else b"0") + b" " + test_id.encode("utf-8", "replace").hex().encode())

    def loaded(args):
        """The test classes as discovery left them (what a test's class must still be when it reports)."""
        if get_ident() != main_thread or not from_the_runner(3) or discovered:
            return tamper("the loaded tests were reported from outside the runner")
        for test in args[0]:
            for klass in type(test).__mro__:
                if type(klass) is type and not snapshot.is_runners(klass):
                    discovered[id(klass)] = (klass, dict(vars(klass)))
        for path, namespace in modules_of_hidden.items():
            if _str_keys(namespace):
                hidden_spaces[path] = (namespace, dict(namespace))

    def module_code_run(args):
        """The namespace a hidden test file's module code runs in, as the import system runs it for discovery."""
        code = args[0]
        if type(code) is not code_type or get_ident() != main_thread:
            return
        path = code.co_filename
        if type(path) is not str or path not in hidden or path in modules_of_hidden:
            return
        if not any(code is known or code == known for known in hidden[path].get("<module>", ())):
            return
        frame = getframe(2)  # importlib's _call_with_frames_removed(exec, code, namespace)
        if frame.f_code is not snapshot.exec_caller:
            return
        called = frame.f_locals.get("args")
        if type(called) is tuple and len(called) == 2 and called[0] is code and type(called[1]) is dict:
            modules_of_hidden[path] = called[1]

    def opened(args):
        path = args[0]
        if type(path) is int:
            return None
        if type(path) is not str and type(path) is not bytes:
            return "a file was opened by an object standing for its path"
        try:
            found = stat(path)
        except:  # noqa: E722 (it does not exist: the open fails by itself)
            return None
        if (found.st_dev, found.st_ino) == pipe_id:
            return "the runner's record pipe was opened"
        private = not found.st_mode & 0o077 or (found.st_mode & 0o170000) == 0o040000
        if found.st_dev == proc_dev and private:
            return "a process's private /proc file was opened"
        return None

    def set_attribute(args):
        """An object's class or a function's code being set (what Python audits of attribute changes):
        refused for a test object's class and for the code of the runner's and the hidden tests' functions."""
        target, name = args[0], args[1]
        if name in ("__code__", "__defaults__", "__kwdefaults__"):
            runners = snapshot.functions.get(id(target))
            if (runners is not None and runners[0] is target) or target.__code__.co_filename in hidden:
                return f"the {name} of a function of the runner's or the hidden tests' cannot be replaced"
            return None
        if name == "__class__":
            mro = type.__dict__["__mro__"].__get__(type(target))
            if any(snapshot.is_runners(klass) and snapshot.claims_runners(klass) for klass in mro):
                return "a test's class cannot be replaced"
        return None

    pending: tuple[tuple[int, str], ...] = ()  # (thread, reason) of what the guard refused, raised by `refuse`
    lock = _thread.allocate_lock()

    def hook(event, args):
        nonlocal pending
        ident = get_ident()
        if ident in busy:
            return
        if pending:  # what this thread was refused before has been raised by now
            with lock:
                pending = tuple(one for one in pending if one[0] != ident)
        refused = None
        busy.add(ident)
        try:
            if event == "opendgm.record":
                record(args)
            elif event == "opendgm.loaded":
                loaded(args)
            elif event == "exec":
                module_code_run(args)
            elif event == "open":
                refused = opened(args)
            elif event == "import":
                if args[0] in REFUSED_MODULES:
                    refused = f"import of {args[0]}"
            elif event == "object.__setattr__":
                refused = set_attribute(args)
            elif event == "sys.addaudithook":
                refused = None if refuser_to_add and refuser_to_add.pop() else event
            elif event in REFUSED_EVENTS or event.startswith("ctypes."):
                refused = event
        except:  # noqa: E722 (fails closed)
            tamper(f"the guard failed on {event}")
        finally:
            busy.discard(ident)
        if refused:  # the next hook raises: the operation does not happen, the test that tried it fails
            with lock:
                pending = (*pending, (ident, refused))

    def refuse(event, args):
        """Raise for this thread's refused operation. Its frame, in the traceback of what it raises, shows
        only the tuple of reasons, which it only reads (the guard alone replaces it)."""
        ident = get_ident()
        for who, reason in pending:
            if who == ident:
                raise PermissionError("refused in a graded test process: " + reason)

    refuser_to_add = [True]
    sys.addaudithook(hook)
    # The guard never raises, so its frame (whose closure leads to the key) is in no traceback. The hook
    # that raises shares only `pending` with it and runs in a namespace of its own (not this private
    # copy's, whose functions the guard calls).
    own = {"__builtins__": {"PermissionError": PermissionError}}
    sys.addaudithook(types.FunctionType(refuse.__code__, own, "refuse", None, refuse.__closure__))


def _changed(before, space):
    """The names under which a namespace no longer holds what its copy `before` held, or holds something new;
    plain data may change (a class or module keeps its counters and flags there), nothing else."""
    changed = [k for k, v in before.items() if space.get(k, before) is not v and not (_is_data(v) and k in space)]
    changed += [k for k, v in space.items() if not _is_data(v) and before.get(k, before) is not v]
    return changed


def _grown(before, space, strict):
    """Whether a hidden file's class or module namespace no longer holds a function, class or module it held
    when the tests were loaded, or holds a new one under a name that `strict` says matters (a test, a name of
    the runner's, a builtin's): its fixtures and tests may keep anything else there (counters, clients, mocks)."""
    return any(not _is_data(v) and space.get(k, before) is not v for k, v in before.items()) or any(
        k not in before and strict(k) and not _is_data(v) for k, v in space.items()
    )


def _is_data(value):
    return any(type(value) is kind for kind in DATA)


def _str_keys(space):
    """Whether a namespace has only plain string keys (looking up a key in one that has others would run
    their code)."""
    return all(type(key) is str for key in space)


def _verify_test(test, kind, name, method, hidden, modules_of_hidden, snapshot, discovered):
    """Why the test that ran is not a hidden one, or None: its class and every class it inherits from are
    the hidden files' own (what their namespaces hold is their own code or plain data) or the runner's, and
    the method that ran is the one compiled from the hidden file, in the namespace it was imported into."""
    if type(method) is not type(_trace):
        return f"{name}: the test method is not a function"
    found = False
    for klass in kind.__mro__:
        if klass is object or snapshot.is_runners(klass):
            continue
        loaded = discovered.get(id(klass))
        if loaded is None or loaded[0] is not klass or _grown(loaded[1], vars(klass), snapshot.strict_attribute):
            return f"{klass.__qualname__}: changed after the tests were loaded"
        problem = _verify_hidden_class(klass, hidden, modules_of_hidden, snapshot)
        if problem:
            return problem
        if not found and vars(klass).get(name) is method:
            inner = _innermost(method)
            qualname = inner.__code__.co_qualname if type(inner) is type(_trace) else None
            if type(qualname) is not str or (qualname != f"{klass.__qualname__}.{name}" and "<locals>" not in qualname):
                return f"{klass.__qualname__}.{name}: another function of the hidden file put in its place"
            found = True
    if not found:
        return f"{name}: the test method is not defined by a hidden test class"
    space = vars(test)
    if type(space) is not dict or not _str_keys(space):
        return "the test object's namespace is not a plain one"
    shadows = [key for key in space if snapshot.is_runners_attribute(key)]
    if shadows:
        return f"the test object hides the runner's {', '.join(sorted(shadows)[:5])}"
    equality = space.get("_type_equality_funcs", {})
    pairs: list[tuple[Any, Any]] = list(equality.items()) if type(equality) is dict else [(None, None)]
    for kind_of, how in pairs:
        if not any(kind_of is k and how is h for k, h in snapshot.equality_funcs) and (
            (type(how) is not type(_trace) and type(how) is not METHOD)
            or _verify_hidden_function(
                how.__func__ if type(how) is METHOD else how, hidden, modules_of_hidden, snapshot
            )
        ):
            return "the test object's type equality functions are not the runner's or the hidden tests'"
    return None


METHOD = type(_trace.__get__(0))
DATA = (str, int, float, bool, type(None), bytes, tuple, frozenset, list, dict, set)
PLAIN = (*DATA, type)
MADE_BY_TYPE = (type(type.__dict__["__dict__"]), type(type.__dict__["__dictoffset__"]))


def _verify_hidden_class(klass, hidden, modules_of_hidden, snapshot):
    if type(klass) is not type:
        return "a test class made by another metaclass"
    for attribute, value in vars(klass).items():
        if not snapshot.strict_attribute(attribute):
            continue  # a helper of the tests' own (what it computes is the tests' business, as any helper)
        kind = type(value)
        if kind is classmethod or kind is staticmethod:
            functions = [value.__func__]
        elif kind is property:
            functions = [f for f in (value.fget, value.fset, value.fdel) if f is not None]
        elif kind is type(_trace):
            functions = [value]
        elif any(kind is plain for plain in PLAIN + MADE_BY_TYPE) or not (callable(value) or _is_descriptor(kind)):
            continue
        else:
            return f"{klass.__qualname__}.{attribute}: neither data nor the hidden tests' own function"
        for function in functions:
            problem = _verify_hidden_function(function, hidden, modules_of_hidden, snapshot)
            if problem:
                return f"{klass.__qualname__}.{attribute}: {problem}"
    return None


def _is_descriptor(kind):
    """Whether a class's objects act on attribute lookup (`__get__`), looked up without running any of its code."""
    return any("__get__" in type.__dict__["__dict__"].__get__(k) for k in type.__dict__["__mro__"].__get__(kind))


def _verify_hidden_function(function, hidden, modules_of_hidden, snapshot, depth=0):
    if type(function) is not type(_trace) or depth > 10:
        return "not a function of the hidden tests"
    code = function.__code__
    path, qualname = code.co_filename, code.co_qualname
    if type(path) is not str or type(qualname) is not str:
        return "not the hidden tests' own code"
    if not any(code is known or code == known for known in hidden.get(path, {}).get(qualname, ())):
        return _verify_standard_wrapper(function, hidden, modules_of_hidden, snapshot, depth)
    namespace = modules_of_hidden.get(path)
    if namespace is None or function.__globals__ is not namespace:
        return "runs in another namespace than the hidden test file's"
    if getattr(function, "__builtins__", None) is not snapshot.builtins:
        return "sees other builtins"
    if not _str_keys(namespace):
        return "the hidden test file's namespace has keys that are not names"
    for name, value in namespace.items():
        if issubclass(type(value), type(sys)) and not snapshot.is_real_module(value):
            return f"the hidden test file's {name} is not the module of that name"
        if type(value) is type and snapshot.claims_runners(value) and not snapshot.is_runners(value):
            return f"the hidden test file's {name} is not the runner's class"
    return None


def _verify_standard_wrapper(function, hidden, modules_of_hidden, snapshot, depth):
    """A standard library decorator's wrapper (unittest.mock.patch, unittest.skipIf, functools.wraps, ...)
    around a hidden test function: its code is the standard library file's own, its namespace that module's,
    and what it wraps is verified in turn."""
    if not snapshot.is_standard_code(function.__code__):
        return "not the hidden tests' own code"
    namespace = function.__globals__
    name = namespace.get("__name__") if _str_keys(namespace) else None
    module = snapshot.sys_modules.get(name) if type(name) is str and _str_keys(snapshot.sys_modules) else None
    if type(module) is not type(sys) or vars(module) is not namespace:
        return "a standard library function outside its module"
    wrapped = _wrapped(function)
    if wrapped is None:
        return "a standard library function that wraps no hidden test"
    return _verify_hidden_function(wrapped, hidden, modules_of_hidden, snapshot, depth + 1)


def _wrapped(function):
    """What a decorator's wrapper says it wraps (`__wrapped__`, set by functools.wraps), or None."""
    space = vars(function)
    return space.get("__wrapped__") if type(space) is dict and _str_keys(space) else None


def _innermost(function):
    for _ in range(10):
        inner = _wrapped(function) if type(function) is type(_trace) else None
        if inner is None:
            return function
        function = inner
    return function


class _Snapshot:
    """The runner's world, taken before any repository code runs: every module then loaded (the standard
    library's: unittest, contextlib, builtins, ... and this harness) with its namespace, every class defined
    in them with its namespace, bases and metaclass, every function reachable from those with its code,
    defaults and closure. `changes()` says what differs (a module may gain its submodules, nothing else)."""

    def __init__(self):
        import builtins

        self.builtins = vars(builtins)
        self.sys_modules, self.gettrace, self.getprofile = sys.modules, sys.gettrace, sys.getprofile
        self.modules = {name: module for name, module in sys.modules.items() if _decides(name)}
        self.spaces: dict[str, tuple[Any, ...]] = {}
        self.classes: dict[int, tuple[Any, ...]] = {}
        self.functions: dict[int, tuple[Any, ...]] = {}
        self.attributes: set[str] = set()
        for name, module in self.modules.items():
            self.spaces[name] = (module, type(module), vars(module), dict(vars(module)))
            for value in list(vars(module).values()):
                self._take(value)
        for klass, _kind, _bases, space in self.classes.values():
            if str(klass.__module__).split(".")[0] == "unittest":
                self.attributes.update(k for k, v in space.items() if callable(v))
        self.equality_funcs = list(sys.modules["unittest"].TestCase()._type_equality_funcs.items())
        self.standard, self.standard_codes = os.path.dirname(os.__file__) + os.sep, {}
        bootstrap = sys.modules.get("importlib._bootstrap") or sys.modules["_frozen_importlib"]
        self.exec_caller = bootstrap._call_with_frames_removed.__code__

    def _take(self, value, depth=0):
        kind = type(value)
        if depth > 20:
            return
        if issubclass(kind, type):
            if id(value) in self.classes:
                return
            self.classes[id(value)] = (value, kind, value.__bases__, dict(vars(value)))
            for item in list(vars(value).values()):
                self._take(item, depth + 1)
        elif kind is classmethod or kind is staticmethod:
            self._take(value.__func__, depth + 1)
        elif kind is property:
            for item in (value.fget, value.fset, value.fdel):
                self._take(item, depth + 1)
        elif kind is type(_trace) and id(value) not in self.functions:
            self.functions[id(value)] = (value, *_function_state(value))
            for cell in value.__closure__ or ():
                try:  # noqa: SIM105 (contextlib is not loaded in the test process)
                    self._take(cell.cell_contents, depth + 1)
                except ValueError:  # an empty cell
                    pass

    def changes(self):
        """What is not as it was, or None (looking only at identities: no object's own code runs)."""
        if self.gettrace() is not None or self.getprofile() is not None:
            return "a trace or profile function is set"
        if not _str_keys(self.sys_modules):
            return "sys.modules has keys that are not names"
        for name, (module, kind, space, before) in self.spaces.items():
            if self.sys_modules.get(name) is not module or type(module) is not kind or vars(module) is not space:
                return f"the module {name} was replaced"
            if not _str_keys(space):
                return f"{name}: keys that are not names"
            changed = [
                k
                for k in _changed(before, space)
                if not _is_submodule(name, k, space.get(k), self.sys_modules) and (name, k) not in REPLACEABLE
            ]
            if changed:
                return f"{name}: {', '.join(sorted(changed)[:5])}"
        for klass, kind, bases, before in self.classes.values():
            changed = _changed(before, vars(klass))
            if changed or type(klass) is not kind or klass.__bases__ is not bases:
                return f"the class {klass.__qualname__}: {', '.join(sorted(changed)[:5])}"
        for function, *before in self.functions.values():
            now = _function_state(function)
            if len(now) != len(before) or any(a is not b for a, b in zip(now, before, strict=True)):
                return f"the function {function.__qualname__}"
        return None

    def is_standard_code(self, code):
        """Whether a code object is one compiled from a standard library file (the file compiled again here)."""
        path = code.co_filename
        if type(path) is not str or not path.startswith(self.standard) or "-packages" + os.sep in path:
            return False
        if path not in self.standard_codes:
            self.standard_codes[path] = _codes_of(path)
        known = self.standard_codes[path].get(code.co_qualname, ()) if type(code.co_qualname) is str else ()
        return any(code is other or code == other for other in known)

    def is_runners(self, klass):
        found = self.classes.get(id(klass))
        return found is not None and found[0] is klass

    def claims_runners(self, klass):
        module = vars(klass).get("__module__")
        return type(module) is str and module.split(".")[0] in ("unittest", "builtins")

    def is_runners_attribute(self, name):
        return name in self.attributes

    def strict_attribute(self, name):
        """Whether a test class's attribute of that name is one the runner or the test's own run looks up: a
        test, a name of the runner's classes, a special name. Other names are the test's own helpers."""
        return name.startswith("test") or name in self.attributes or name.startswith("__")

    def is_real_module(self, module):
        if type(module) is not type(sys) or not _str_keys(vars(module)):
            return False
        name = vars(module).get("__name__")
        if type(name) is not str:
            return False
        if name in self.modules:
            return self.modules[name] is module
        return _str_keys(self.sys_modules) and self.sys_modules.get(name) is module


# The modules whose code decides whether a test passed (the runner, unittest's assertions, and what those
# call): kept unchanged at every record. Other modules (os, time, json, subprocess, ...) are the tests' to
# patch, with or without undoing it, as any test suite may.
DECISIVE = (
    "__main__", "builtins", "unittest", "contextlib", "collections", "_collections_abc", "re", "sre_compile",
    "sre_parse", "sre_constants", "warnings", "functools", "types", "abc", "operator", "itertools", "enum",
    "copyreg", "keyword", "reprlib", "asyncio", "logging", "inspect", "contextvars",
)  # fmt: skip
# Names in those modules that are meant to be replaced: input and output, and warnings' display hooks.
REPLACEABLE = frozenset(
    [("builtins", name) for name in ("open", "print", "input", "help", "exit", "quit", "breakpoint")]
    + [("warnings", "showwarning"), ("warnings", "formatwarning"), ("logging", "_warnings_showwarning")]
)


def _decides(name):
    return name.split(".")[0] in DECISIVE


def _function_state(function):
    """A function's code, defaults and closure's contents, as a flat tuple compared by identity."""
    cells = []
    for cell in function.__closure__ or ():
        try:
            cells.append(cell.cell_contents)
        except ValueError:
            cells.append(cell)
    return (function.__code__, function.__defaults__, function.__kwdefaults__, *cells)


def _is_submodule(package, key, value, modules):
    """A module's new name that is allowed: its submodule, imported since (or unittest's lazily made class)."""
    if key == "__warningregistry__":  # the warnings module's record of what it said, made on first use
        return type(value) is dict
    if (package, key) == ("unittest", "IsolatedAsyncioTestCase"):
        made = modules.get("unittest.async_case", None)
        return _is_submodule(package, "async_case", made, modules) and vars(made).get(key) is value
    if type(value) is not type(sys) or not _str_keys(vars(value)):
        return False
    name = vars(value).get("__name__")
    return type(name) is str and name == f"{package}.{key}"


COMPARISONS = (
    "assertEqual", "assertAlmostEqual", "assertCountEqual", "assertIn", "assertListEqual", "assertTupleEqual",
    "assertDictEqual", "assertSetEqual", "assertSequenceEqual", "assertMultiLineEqual",
)  # fmt: skip


def _guard_assertions(case, repo, hidden):
    """An equality assertion fails when one side holds an object of a repository class that defines its
    own equality and the other side does not hold that class: an object "equal to everything" is the
    oldest way to pass an assertion without computing anything. Every assertion checks, as it starts, that
    the test object does not hide the runner's methods it is about to use (a change undone before the
    test's record would otherwise go unseen)."""

    def repo_types(value, found, depth=0):
        kind = type(value)
        if kind in (list, tuple, set, frozenset) and depth < 50:
            for item in value:
                repo_types(item, found, depth + 1)
        elif kind is dict and depth < 50:
            for key, item in value.items():
                repo_types(key, found, depth + 1)
                repo_types(item, found, depth + 1)
        elif kind.__eq__ is not object.__eq__ or type(kind).__eq__ is not type.__eq__:
            module = sys.modules.get(getattr(kind, "__module__", ""), None)
            path = os.path.abspath(getattr(module, "__file__", None) or "/")
            if path.startswith(repo + os.sep) and not path.startswith(os.path.join(repo, "tests") + os.sep):
                found.add(kind)
        return found

    def compared(name):
        original = vars(case)[name]

        def check(self, first, second, *args, **kwargs):
            one, other = repo_types(first, set()), repo_types(second, set())
            if one != other:
                kinds = ", ".join(sorted(kind.__qualname__ for kind in one ^ other))
                raise failure(f"compares an object of the repository's class {kinds} with another type")
            return original(self, first, second, *args, **kwargs)

        return check

    for name in COMPARISONS:
        setattr(case, name, compared(name))
    failure, runners = case.failureException, frozenset(k for k, v in vars(case).items() if callable(v))
    defaults, method_type = list(case()._type_equality_funcs.items()), type(case().id)

    def hidden_function(value):
        function = value.__func__ if type(value) is method_type else value
        code = function.__code__ if type(function) is type(_trace) else None
        return code is not None and any(
            code == known for known in hidden.get(code.co_filename, {}).get(code.co_qualname, ())
        )

    def unshadowed(name):
        """At each assertion's start, the test object shadows none of the runner's methods (they decide what
        the assertion does) and compares types only with the runner's functions or the hidden tests' own."""
        original = vars(case)[name]

        def check(self, *args, **kwargs):
            space = vars(self)
            if not all(type(key) is str for key in space) or any(key in runners for key in space):
                raise failure("the test object hides a method of the runner's")
            equality = space.get("_type_equality_funcs", {})
            for kind, how in equality.items() if type(equality) is dict else [(None, None)]:
                if not any(kind is k and how is h for k, h in defaults) and not hidden_function(how):
                    raise failure("the test object compares types with a function that is not the hidden tests'")
            return original(self, *args, **kwargs)

        return check

    for name in list(vars(case)):
        if name.startswith(("assert", "fail")) and callable(vars(case)[name]):
            setattr(case, name, unshadowed(name))


# -- HumanEval: check runs here, the solution in the child ----------------------------------------
class CallFailed(BaseException):
    """The solution's function raised, returned something that is not plain data, or did not answer
    (a BaseException, so a `check` that catches Exception cannot swallow it)."""


def run_call(args, child, deadline):
    _solution, entry, stub, test = args
    sources = []
    for path in (stub, test):  # read before any agent code runs: the solution's process may rewrite them
        with open(path) as handle:
            sources.append(handle.read())
    os.unlink(test)  # and may read it: its asserts are a table of the answers
    child.start()
    requests, responses = os.fdopen(child.fds[0], "w", buffering=1), os.fdopen(child.fds[1], "rb")
    timed_out = [False]

    def candidate(*args, **kwargs):
        try:
            requests.write(json_dumps(encode([list(args), kwargs])) + "\n")
            requests.flush()
        except (OSError, ValueError) as exc:
            raise CallFailed(f"the solution's process is gone: {exc}") from None
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([responses], [], [], left)[0]:
            timed_out[0] = True
            raise CallFailed("the solution did not answer in time")
        line = responses.readline(RECORD_LIMIT)
        try:
            answer = json_loads(line)
            value = decode(answer["value"]) if "value" in answer else None
        except (ValueError, KeyError, TypeError, RecursionError):
            raise CallFailed("the solution's process answered with something else") from None
        if "value" not in answer:
            raise CallFailed(str(answer.get("error", "failed"))[:500])
        return value

    namespace: dict[str, Any] = {"__name__": "hidden_test"}
    notes = []
    exec(compile(sources[0], "solution_stub.py", "exec"), namespace)  # the task's own stub (trusted)
    exec(compile(sources[1], "hidden_test.py", "exec"), namespace)  # the problem's check (trusted)
    namespace[entry] = candidate
    try:
        namespace["check"](candidate)
        passed = True
    except (Exception, CallFailed) as exc:
        passed = False
        notes.append(f"check failed: {type(exc).__name__}: {str(exc)[:300]}")
    _end(child)
    return {"outcomes": {"check": passed}, "notes": notes, "timed_out": timed_out[0]}


def child_call(solution, entry, req_fd, resp_fd):
    requests, responses = os.fdopen(req_fd, "r"), os.fdopen(resp_fd, "w", buffering=1)
    repo = os.getcwd()
    if repo not in sys.path:
        sys.path.append(repo)
    function = run_path(solution)[entry]
    for line in requests:
        try:
            args, kwargs = decode(json_loads(line))
            answer = {"value": encode(function(*args, **kwargs))}
        except BaseException as exc:
            answer = {"error": f"{type(exc).__name__}: {exc}"[:500]}
        sys.stdout.flush()  # what the solution printed reaches the log before the harness kills this process
        responses.write(json_dumps(answer) + "\n")


def run_path(path):
    """The file's namespace once run as `runpy.run_path` runs a script (a module named `<run_path>`, in
    sys.modules while it runs), without runpy's import: it loads importlib.util and contextlib, a twentieth of a
    grading."""
    module = type(sys)("<run_path>")
    module.__file__ = path
    with open(path, "rb") as handle:
        code = compile(handle.read(), path, "exec")
    sys.modules[module.__name__] = module
    try:
        exec(code, vars(module))
    finally:
        del sys.modules[module.__name__]
    return dict(vars(module))


def encode(value):
    """Plain data as JSON, with its exact types: anything else (a subclass, an object) is refused."""
    kind = type(value)
    if value is None or kind in (bool, int, float, str):
        return value
    if kind is list:
        return [encode(item) for item in value]
    if kind in (tuple, set, frozenset):
        return {kind.__name__: [encode(item) for item in value]}
    if kind is dict:
        return {"dict": [[encode(k), encode(v)] for k, v in value.items()]}
    if kind is bytes:
        return {"bytes": value.hex()}
    if kind is complex:
        return {"complex": [value.real, value.imag]}
    raise TypeError(f"not plain data: {kind.__name__}")


def decode(value):
    if isinstance(value, list):
        return [decode(item) for item in value]
    if not isinstance(value, dict):
        return value
    ((kind, body),) = value.items()
    if kind == "dict":
        return {decode(k): decode(v) for k, v in body}
    if kind == "bytes":
        return bytes.fromhex(body)
    if kind == "complex":
        return complex(*body)
    return {"tuple": tuple, "set": set, "frozenset": frozenset}[kind](decode(item) for item in body)


if __name__ == "__main__":
    if sys.argv[1] == "child-unittest":
        child_unittest(*sys.argv[2:])
    else:
        main(sys.argv[1:])
