"""pcapscan's own exceptions. Library code raises these and never prints or
exits; the CLI (cli.py) is the one place that turns them into a one-line
message and an exit status."""


class PcapscanError(Exception):
    """Base class. `str(exc)` is the one line a user sees."""

    exit_status = 2


def words(exc: BaseException):
    """What an exception says, as raised: its one string argument (a
    messages.Said, the capture reader's, can be said in another language),
    else str(exc)."""
    return exc.args[0] if len(exc.args) == 1 and isinstance(exc.args[0], str) else str(exc)


class InputError(PcapscanError):
    """Bad input: a missing file, not a capture, unusable arguments."""


class CaptureNotFound(InputError):
    pass


class NotACapture(InputError):
    pass


class UsageError(InputError):
    pass


class PermissionProblem(PcapscanError):
    """Needs root or CAP_NET_RAW."""


class SafetyRefusal(PcapscanError):
    """A live scan of an address the scanner refuses by default."""
