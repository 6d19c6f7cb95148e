"""pcapscan's own exceptions. Library code raises these and never prints or
exits; the CLI (cli.py) is the one place that turns them into a one-line
message and an exit status."""


class PcapscanError(Exception):
    """Base class. `str(exc)` is the one line a user sees."""

    exit_status = 2


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
