"""The grading harness that runs inside a grading sandbox (standard library only; `python3 -I -S`).

Started outside the repository, with isolated flags, so no repository file is on its import path. It reads
a nonce the host left in a file and deletes the file before any agent code runs, makes itself
non-dumpable (a same-user process cannot read its memory or its descriptors), and runs the tests in a
child process:

- `unittest START PATTERN`: the child imports the tests with the standard library first on sys.path and
  reports each test's outcome on a private pipe, each record prefixed with a key it read from another pipe
  before importing any repository code; it also reports whether the runner's own classes or the builtins
  were changed (a tampered runner fails every test).
- `call SOLUTION ENTRY STUB TEST`: HumanEval. The problem's `check` runs here, in this process, against a
  proxy of the solution's function: each call goes to the child, which imports the solution and answers
  with plain data only. So `check` returning is confirmed by the harness itself; nothing the solution does
  in its own process (exit hooks, patched builtins, objects equal to everything) can make it pass.

The result is one line on stdout, `opendgm-result <HMAC of the JSON under the nonce> <json>`, after the child's
output: the nonce is never printed, so a process that reads the line off the exec's pipe cannot write another.
"""

import json
import os
import sys

if not sys.argv[1:2] or not sys.argv[1].startswith("child-"):
    # Only the harness's own process needs these: the test process (the solution's code) starts without them,
    # which is most of its start-up.
    import contextlib
    import hashlib
    import hmac
    import secrets
    import select
    import signal
    import subprocess
    import time
    from typing import Any

NONCE_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nonce")
LOG_TAIL = 4000
RECORD_LIMIT = 16 * 2**20
PR_SET_DUMPABLE = 4


def main(argv):
    with open(NONCE_FILE) as handle:
        nonce = handle.read().strip()
    os.unlink(NONCE_FILE)
    _not_dumpable()
    deadline = time.monotonic() + float(argv[argv.index("--timeout") + 1])
    mode, args = argv[0], argv[1 : argv.index("--timeout")]
    log_path = os.path.join(os.path.dirname(NONCE_FILE), "child.log")
    with open(log_path, "wb") as log:
        if mode == "unittest":
            result = run_unittest(args, log, deadline)
        elif mode == "call":
            result = run_call(args, log, deadline)
        else:
            result = {"outcomes": {}, "notes": [f"unknown harness mode {mode!r}"], "timed_out": False}
    with open(log_path, "rb") as log:
        log.seek(max(0, os.path.getsize(log_path) - LOG_TAIL))
        sys.stdout.write(log.read().decode("utf-8", "replace") + "\n")
    body = json.dumps(result)
    signed = hmac.new(nonce.encode(), body.encode(), hashlib.sha256).hexdigest()
    sys.stdout.write(f"opendgm-result {signed} {body}\n")
    sys.stdout.flush()


def _not_dumpable():
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _spawn(args, log, fds):
    return subprocess.Popen(
        [sys.executable, "-I", "-S", os.path.abspath(__file__), *args],
        pass_fds=fds,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _end(child):
    """Kill the child's whole session (what it left running too) and reap it."""
    with contextlib.suppress(OSError):
        os.killpg(child.pid, signal.SIGKILL)
    child.wait()


# -- unittest -----------------------------------------------------------------------------------
def run_unittest(args, log, deadline):
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
            if not line.startswith(prefix):
                continue  # not the runner's (it would know the key)
            try:
                record = json.loads(line[len(prefix) :])
                if "tampered" not in record:
                    test, passed = str(record["test"]), record["passed"] is True
            except (ValueError, KeyError, TypeError, RecursionError):
                continue
            if "tampered" in record:
                notes.append(f"the test process changed the test runner: {record['tampered']}")
            else:
                outcomes[test] = outcomes.get(test, True) and passed
    _end(child)
    os.close(rec_r)
    if any(note.startswith("the test process changed") for note in notes):
        outcomes = {test: False for test in outcomes}
    return {"outcomes": outcomes, "notes": notes, "timed_out": timed_out}


def child_unittest(start, pattern, key_fd, rec_fd):
    key = os.read(int(key_fd), 64).decode()
    os.close(int(key_fd))
    records = os.fdopen(int(rec_fd), "w", buffering=1)
    import builtins
    import unittest

    repo = os.path.abspath(os.getcwd())
    top = os.path.abspath(os.path.join(repo, start))
    _guard_comparisons(unittest.TestCase, repo)
    _guard_test_methods(unittest.TestCase, _hidden_code(top, pattern if top == repo else "*.py"))
    watched: dict[str, Any] = {
        "builtins": vars(builtins),
        "sys.modules": {name: module for name, module in sys.modules.items() if name.startswith("unittest")},
    }
    # The runner's machinery, every class of it (a private one such as unittest.case._Outcome decides what a
    # failure is) and the context managers it is made of: changed, they make failing tests pass.
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] in ("unittest", "contextlib"):
            for value in list(vars(module).values()):
                if isinstance(value, type) and value.__module__ == name:
                    watched[f"{name}.{value.__qualname__}"] = vars(value)
    snapshot = {name: dict(space) for name, space in watched.items()}
    watched["sys.modules"] = sys.modules

    def tampered():
        for name, before in snapshot.items():
            now = watched[name]
            changed = [k for k, v in before.items() if now.get(k, None) is not v]
            if name != "sys.modules":
                changed += [k for k in now if k not in before]
            if changed:
                return f"{name}: {', '.join(sorted(changed)[:5])}"
        return None

    def send(record):
        records.write(key + " " + json.dumps(record) + "\n")

    class Result(unittest.TestResult):
        """Records one outcome per test as it stops."""

        def startTest(self, test):
            super().startTest(test)
            self._ok = True

        def _fail(self, *args):
            self._ok = False

        addError = addFailure = addSkip = addUnexpectedSuccess = _fail

        def addSubTest(self, test, subtest, err):
            if err is not None:
                self._ok = False

        def stopTest(self, test):
            super().stopTest(test)
            problem = tampered()
            if problem:
                send({"tampered": problem})
            send({"test": test.id(), "passed": self._ok and problem is None})

    for folder in (repo, top):  # after the standard library: nothing here shadows it or the runner
        if folder not in sys.path:
            sys.path.append(folder)
    suite = unittest.TestLoader().discover(top, pattern, top_level_dir=top)
    problem = tampered()
    if problem:
        send({"tampered": problem})
        return
    result = Result()
    suite.run(result)
    records.flush()
    for test, trace in result.errors + result.failures:  # the log says why, the pipe said what
        print(f"{test}\n{trace}", flush=True)


def _hidden_code(top, pattern):
    """Every code object of the hidden tests' files under `top` (those named by `pattern`: where the tests start
    at the repository's root, its other files are the agent's), compiled from their source before any
    repository code runs in this process (what the tests' own methods must be made of)."""
    import fnmatch

    found = set()
    for folder, _dirs, files in os.walk(top):
        for name in files:
            if not name.endswith(".py") or not fnmatch.fnmatch(name, pattern):
                continue
            path = os.path.join(folder, name)
            try:
                with open(path, "rb") as handle:
                    codes = [compile(handle.read(), path, "exec", dont_inherit=True)]
            except (OSError, SyntaxError, ValueError):
                continue
            while codes:
                code = codes.pop()
                found.add(code)
                codes.extend(const for const in code.co_consts if isinstance(const, type(code)))
    return found


def _guard_test_methods(case, hidden):
    """A test method runs only when it is the hidden tests' own code, and no trace or profile function is set:
    code imported by the tests can otherwise swap a test's method for one that does nothing (through the
    class, the name the class was made from, or the function's code), and a test that cannot fail passes."""
    original = case._callTestMethod

    def call(self, method):
        code = getattr(getattr(method, "__func__", method), "__code__", None)
        if code not in hidden or sys.gettrace() is not None or sys.getprofile() is not None:
            raise self.failureException(f"{self.id()}: the test method is not the hidden test's own code")
        return original(self, method)

    case._callTestMethod = call


COMPARISONS = (
    "assertEqual", "assertAlmostEqual", "assertCountEqual", "assertIn", "assertListEqual", "assertTupleEqual",
    "assertDictEqual", "assertSetEqual", "assertSequenceEqual", "assertMultiLineEqual",
)  # fmt: skip


def _guard_comparisons(case, repo):
    """An equality assertion fails when one side holds an object of a repository class that defines its
    own equality and the other side does not hold that class: an object "equal to everything" is the
    oldest way to pass an assertion without computing anything."""

    def repo_types(value, found, depth=0):
        kind = type(value)
        if kind in (list, tuple, set, frozenset) and depth < 50:
            for item in value:
                repo_types(item, found, depth + 1)
        elif kind is dict and depth < 50:
            for key, item in value.items():
                repo_types(key, found, depth + 1)
                repo_types(item, found, depth + 1)
        elif kind.__eq__ is not object.__eq__:
            module = sys.modules.get(getattr(kind, "__module__", ""), None)
            path = os.path.abspath(getattr(module, "__file__", None) or "/")
            if path.startswith(repo + os.sep) and not path.startswith(os.path.join(repo, "tests") + os.sep):
                found.add(kind)
        return found

    def guarded(name):
        original = getattr(case, name)

        def check(self, first, second, *args, **kwargs):
            one, other = repo_types(first, set()), repo_types(second, set())
            if one != other:
                kinds = ", ".join(sorted(kind.__qualname__ for kind in one ^ other))
                raise self.failureException(f"compares an object of the repository's class {kinds} with another type")
            return original(self, first, second, *args, **kwargs)

        return check

    for name in COMPARISONS:
        setattr(case, name, guarded(name))


# -- HumanEval: check runs here, the solution in the child ----------------------------------------
class CallFailed(BaseException):
    """The solution's function raised, returned something that is not plain data, or did not answer
    (a BaseException, so a `check` that catches Exception cannot swallow it)."""


def run_call(args, log, deadline):
    solution, entry, stub, test = args
    sources = []
    for path in (stub, test):  # read before any agent code runs: the solution's process may rewrite them
        with open(path) as handle:
            sources.append(handle.read())
    os.unlink(test)  # and may read it: its asserts are a table of the answers
    req_r, req_w = os.pipe()
    resp_r, resp_w = os.pipe()
    child = _spawn(["child-call", solution, entry, str(req_r), str(resp_w)], log, (req_r, resp_w))
    os.close(req_r)
    os.close(resp_w)
    requests, responses = os.fdopen(req_w, "w", buffering=1), os.fdopen(resp_r, "rb")
    timed_out = [False]

    def candidate(*args, **kwargs):
        try:
            requests.write(json.dumps(encode([list(args), kwargs])) + "\n")
            requests.flush()
        except (OSError, ValueError) as exc:
            raise CallFailed(f"the solution's process is gone: {exc}") from None
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([responses], [], [], left)[0]:
            timed_out[0] = True
            raise CallFailed("the solution did not answer in time")
        line = responses.readline(RECORD_LIMIT)
        try:
            answer = json.loads(line)
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
    import runpy

    requests, responses = os.fdopen(int(req_fd), "r"), os.fdopen(int(resp_fd), "w", buffering=1)
    repo = os.getcwd()
    if repo not in sys.path:
        sys.path.append(repo)
    function = runpy.run_path(solution)[entry]
    for line in requests:
        try:
            args, kwargs = decode(json.loads(line))
            answer = {"value": encode(function(*args, **kwargs))}
        except BaseException as exc:
            answer = {"error": f"{type(exc).__name__}: {exc}"[:500]}
        responses.write(json.dumps(answer) + "\n")


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
    elif sys.argv[1] == "child-call":
        child_call(*sys.argv[2:])
    else:
        main(sys.argv[1:])
