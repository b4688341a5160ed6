"""Exceptions raised by fs_client.

Every failure of the fs binary or of serve-lite is an FsError carrying fs's
own message. The subclasses follow fs's documented exit codes (fs(1), EXIT
STATUS):

    1    FsCheckFailed   a negative answer that is not an error: a promotion
                         gate or the skew guard not met, `status` too stale,
                         `materialize --no-wait` finding the views busy
    128  FsFatalError    a fatal error: unknown feature view, bad row, ...
    129  FsUsageError    bad usage: an unknown option or stage, a bad time

FsHTTPError is an error answer of serve-lite (its HTTP status in .status),
FsBinaryNotFound a missing fs binary.
"""

import json


class FsError(Exception):
    """An fs command or a serve-lite request failed.

    message     fs's message: its stderr (or the HTTP error text), the
                leading 'fatal: ' or 'error: ' of the first line removed,
                or the "error" of the line of JSON fs prints on stderr
                when it was given --json
    stderr      what fs printed on stderr, as it printed it ('' for HTTP)
    returncode  fs's exit status (None for HTTP errors)
    cmd         the command line that ran (a list), or the URL requested
    result      what fs printed on stdout as JSON, when it did (for
                `promote --json` refused by its gates: {"unmet": [...]})
    """

    def __init__(self, message, returncode=None, stderr="", cmd=None, result=None):
        super().__init__(message)
        self.message = message
        self.returncode = returncode
        self.stderr = stderr
        self.cmd = cmd
        self.result = result

    def __str__(self):
        return self.message


class FsCheckFailed(FsError):
    """Exit status 1: a check said no (promotion gates, staleness, a busy view)."""

    @property
    def unmet(self):
        """The unmet conditions of a refused promotion (empty when not known)."""
        if isinstance(self.result, dict):
            return list(self.result.get("unmet") or [])
        return []


class FsFatalError(FsError):
    """Exit status 128: fs reported a fatal error."""


class FsUsageError(FsError):
    """Exit status 129: fs was called with bad arguments."""


class FsHTTPError(FsError):
    """serve-lite answered with an error status (or could not be reached).

    status      the HTTP status, None when the server could not be reached
    error_class Feast's error class name on Feast endpoints that send one
    """

    def __init__(self, message, status=None, cmd=None, error_class=None, body=None):
        super().__init__(message, cmd=cmd, result=body)
        self.status = status
        self.error_class = error_class


class FsBinaryNotFound(FsError):
    """The fs binary could not be found or run."""


class FsWarning(UserWarning):
    """fs succeeded but said something on stderr (a webhook that failed, ...)."""


_BY_CODE = {1: FsCheckFailed, 128: FsFatalError, 129: FsUsageError}


def _strip_prefix(text):
    for prefix in ("fatal: ", "error: "):
        if text.startswith(prefix):
            return text[len(prefix):]
    return text


def _message(text):
    """fs's message in its stderr: the "error" of the line of JSON that a
    command given --json prints (its "errors", when it lists several, one a
    line after it), else the text less its leading 'fatal: ' or 'error: '."""
    for line in reversed(text.splitlines()):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            d = json.loads(line)
        except ValueError:
            continue
        if isinstance(d, dict) and isinstance(d.get("error"), str):
            errors = d.get("errors")
            if isinstance(errors, list) and errors:
                return "\n".join([d["error"] + ":"] + [str(x) for x in errors])
            return d["error"]
    return _strip_prefix(text)


def error_from_process(cmd, returncode, stdout, stderr):
    """The FsError for a finished fs process that exited non-zero."""
    text = stderr.strip()
    message = _message(text) if text else "fs exited with status %d" % returncode
    result = None
    if stdout.strip():
        try:
            result = json.loads(stdout)
        except ValueError:
            result = None
    cls = _BY_CODE.get(returncode, FsError)
    return cls(message, returncode=returncode, stderr=stderr, cmd=list(cmd), result=result)


def error_from_http(url, status, body_text):
    """The FsHTTPError for an error answer: serve-lite's {"error": "..."}, or
    on Feast's endpoints Feast's body, "{\"module\": \"feast.errors\",
    \"class\": ..., \"message\": ...}" (a JSON string holding the object)."""
    message, error_class, body = None, None, None
    try:
        body = json.loads(body_text)
        if isinstance(body, str):  # Feast's error body: a JSON object inside a JSON string
            body = json.loads(body)
    except ValueError:
        body = None
    if isinstance(body, dict):
        message = body.get("error") or body.get("message") or body.get("detail")
        error_class = body.get("class")
    if not isinstance(message, str) or not message:
        message = body_text.strip() or "HTTP %d" % status
    return FsHTTPError(message, status=status, cmd=url, error_class=error_class, body=body)
