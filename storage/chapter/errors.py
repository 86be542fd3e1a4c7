"""What the chapter's store refuses, each with the code the API answers with.

StorageError
 +-- ChapterError       a chapter rule said no (``code``: invalid_invite,
                        name_taken, invite_quota, proposal_closed,
                        not_in_electorate, ballot_locked, too_many_comments)
"""

from __future__ import annotations

from storage.errors import StorageError


class ChapterError(StorageError):
    """A rule of the chapter refused a change; nothing was written."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
