"""Errors of the machine pre-review and the negative list, each with a stable code."""

from exchange.errors import ConflictError, InvalidInputError, NotFoundError


class NegativeTermInvalidError(InvalidInputError):
    code = "negative_term_invalid"
    default_message = "The negative-list entry is not valid."


class NegativeTermDuplicateError(ConflictError):
    code = "negative_term_duplicate"
    default_message = "The negative list already holds an active entry that matches the same text."


class NegativeTermNotFoundError(NotFoundError):
    code = "negative_term_not_found"
    default_message = "No such negative-list entry."


class NegativeListStaleError(ConflictError):
    """A national list whose version is not newer than the one held (an older list would bring back
    retired entries and drop new ones)."""

    code = "negative_list_stale"
    default_message = "The negative list is not newer than the one held."


class RecheckItemNotFoundError(NotFoundError):
    code = "recheck_item_not_found"
    default_message = "No such re-check item."


class RecheckItemResolvedError(ConflictError):
    code = "recheck_item_resolved"
    default_message = "The re-check item has been decided already."


class RecheckRunNotFoundError(NotFoundError):
    code = "recheck_run_not_found"
    default_message = "No such re-check."
