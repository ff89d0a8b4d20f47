"""The one shape of a refused action that services raise and screens show."""

from __future__ import annotations


class Refusal(Exception):
    """A refused action; ``message`` is shown to the user as it is (translated), next
    to the form field ``field`` when the refusal is about one. Each service names its
    own subclass, so views catch only the refusals of the service they call."""

    def __init__(self, message, field: str | None = None) -> None:
        super().__init__(str(message))
        self.message = message
        self.field = field
