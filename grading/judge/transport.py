"""The sandboxed child as the trusted parent sees it: a process started on demand, asked one question at a time
under a deadline, replaced (with the setup replayed) when it overruns one or breaks the wire format."""

import os
import select
import time

from grading.sandbox.child import wire

STARTUP = 60.0  # seconds a fresh child may take to import torch and answer its first question


class Refused(AssertionError):
    """A question the child did not answer (an error, a timeout, a broken message): the asking case fails."""


class _Deadline:
    """A readable pipe whose reads raise TimeoutError past ``until`` (time.monotonic())."""

    def __init__(self, fd, until):
        self.fd, self.until = fd, until

    def read(self, n):
        left = self.until - time.monotonic()
        if left <= 0 or not select.select([self.fd], [], [], left)[0]:
            raise TimeoutError()
        return os.read(self.fd, min(n, 1 << 20))


def _send(fd, data, until):
    """Write ``data`` to the pipe ``fd`` by ``until``: a child that stops reading cannot block the parent."""
    os.set_blocking(fd, False)
    view = memoryview(data)
    while view:
        left = until - time.monotonic()
        if left <= 0 or not select.select([], [fd], [], left)[1]:
            raise TimeoutError()
        try:
            view = view[os.write(fd, view[:1 << 16]):]
        except BlockingIOError:
            continue


class Child:
    """The sandboxed runner, started on demand; ``ask`` returns (answer, tensors) or raises Refused."""

    def __init__(self, launch, session):
        self.launch, self.session, self.box, self.replay, self.fresh = launch, session, None, [], True
        self.boxes = []

    def _start(self):
        self.box = self.launch()
        self.boxes.append(self.box)
        self.fresh = True
        for header, limit in list(self.replay):  # the setup a question needs, again (a hung cell is not in it)
            self._exchange(header, (), limit)

    def stop(self):
        if self.box is not None:
            self.box.stop()
            self.box = None

    def ask(self, header, tensors=(), limit=None, setup=False):
        limit = float(limit or self.session.cell_timeout)
        if self.box is None:
            self._start()
        answer, out = self._exchange(header, tensors, limit)
        if setup:  # a fresh child replays it; a step that was refused (hung, broke the format) is left out
            self.replay.append((header, limit))
        return answer, out

    def _exchange(self, header, tensors, limit):
        session = self.session
        remaining = session.deadline - time.monotonic()
        if remaining <= 0:
            session.timed_out = True
            raise Refused("not asked: the submission's time limit was reached")
        margin = STARTUP if self.fresh else 10.0  # the child's own timer stops the code at ``limit``; this is the rest
        until = time.monotonic() + min(remaining, limit + margin)
        try:
            _send(self.box.stdin.fileno(), wire.encode(dict(header, limit=limit), tensors), until)
            answer, out = wire.receive(_Deadline(self.box.stdout.fileno(), until))
            self.fresh = False
        except TimeoutError:
            self.stop()
            if time.monotonic() >= session.deadline:
                session.timed_out = True
            raise Refused(f"ran past {limit:g} s (the grader stopped it and went on with a fresh process)")
        except wire.ProtocolError as error:
            self.stop()
            session.rejected.append(f"answer to {header.get('op')}: {error}")
            raise Refused(f"its answer broke the wire format ({error})")
        except (EOFError, BrokenPipeError, OSError) as error:
            self.stop()
            raise Refused(f"the submission's process ended ({type(error).__name__})")
        if not isinstance(answer.get("error", ""), (str, type(None))):
            raise Refused("an answer whose error is not text")
        if answer.get("error"):
            raise Refused(str(answer["error"])[:300])
        return answer, out
