"""Errors a user can fix. The CLI prints them as one `error:` line (exit 2); the GUI shows them in a dialog."""


class UserError(Exception):
    """Bad input: says what is wrong and how to fix it. Never a bug."""


class Cancelled(Exception):
    """A long job was cancelled by the user."""


def describe_validation_error(exc, what: str) -> str:
    """One readable line from a pydantic ValidationError: where, what is wrong."""
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(p) for p in err.get("loc", ())) or "(top level)"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    more = len(exc.errors()) - 3
    suffix = f" (and {more} more)" if more > 0 else ""
    return f"{what}: " + "; ".join(parts) + suffix
