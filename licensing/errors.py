"""Licensing errors, each with a stable code. A refused access decision becomes an
``AccessRefusedError`` whose ``code`` is the decision's reason (``purchase_required``,
``outside_territory`` …) so clients can act on it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from exchange.errors import (
    ConflictError,
    ExchangeError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)

if TYPE_CHECKING:
    from licensing.decisions import Decision

# HTTP status of each refusal reason; a reason not listed is a 403.
REFUSAL_HTTP_STATUS: dict[str, int] = {
    "login_required": 401,
    "purchase_required": 402,
    "not_published": 409,
    "withdrawn": 410,
}


class AccessRefusedError(ExchangeError):
    """``decide()`` refused: the error code is the decision's reason, the details carry the price."""

    code = "access_refused"
    http_status = 403

    def __init__(self, decision: Decision) -> None:
        super().__init__(str(decision.message), details=decision.details())
        self.code = decision.reason
        self.http_status = REFUSAL_HTTP_STATUS.get(decision.reason, 403)
        self.decision = decision


class InsufficientVouchersError(ConflictError):
    code = "insufficient_vouchers"
    default_message = "The school's voucher balance is too low for this purchase."


class AlreadyEntitledError(ConflictError):
    code = "already_entitled"
    default_message = "No purchase is needed: you may already use this resource."


class NotPurchasableError(ConflictError):
    code = "not_purchasable"
    default_message = "This resource cannot be bought (it is not available to you on any terms)."


class NoSchoolAccountError(PermissionDeniedError):
    code = "no_school_account"
    default_message = "Only members of a school can spend vouchers."


class VoucherAccountNotFoundError(NotFoundError):
    code = "voucher_account_not_found"
    default_message = "No such voucher account."


class FundingNotAllowedError(PermissionDeniedError):
    code = "funding_not_allowed"
    default_message = "Only administrators of the school's province may fund its voucher account."


class LedgerUnbalancedError(ExchangeError):
    """A programming error: a movement whose debits and credits differ is never written."""

    code = "ledger_unbalanced"
    http_status = 500
    default_message = "A ledger movement must balance."


class FileUnavailableError(ExchangeError):
    code = "file_unavailable"
    http_status = 503
    default_message = "The file is not available on this node yet."


class DownloadLinkInvalidError(PermissionDeniedError):
    code = "download_link_invalid"
    default_message = "This download link is not valid."


class DownloadLinkExpiredError(ExchangeError):
    code = "download_link_expired"
    http_status = 410
    default_message = "This download link has expired; request a new one."


class RangeNotSatisfiableError(ExchangeError):
    code = "range_not_satisfiable"
    http_status = 416
    default_message = "The requested byte range is outside the file."


class ResourceAlreadyWithdrawnError(ConflictError):
    code = "resource_withdrawn"
    default_message = "The resource has already been withdrawn."


class TakedownNotFoundError(NotFoundError):
    code = "takedown_not_found"
    default_message = "No such takedown notice."


class TakedownAlreadyDecidedError(ConflictError):
    code = "takedown_already_decided"
    default_message = "This takedown notice has already been decided."


class NotTakedownReviewerError(PermissionDeniedError):
    code = "not_takedown_reviewer"
    default_message = ("Only reviewers of the resource's province (or, at the national hub, hub operators) "
                       "may decide its takedown notices.")


class NotClaimantError(PermissionDeniedError):
    code = "not_claimant"
    default_message = "Only rights holders (publishers) and administrators may file takedown notices."


class SettlementNotAllowedError(PermissionDeniedError):
    code = "settlement_not_allowed"
    default_message = "You may only see the settlement of your own organisation (or your province's)."


class InvalidPeriodError(InvalidInputError):
    code = "invalid_period"
    default_message = "The settlement period is not valid."


class AllowanceExceededError(ConflictError):
    code = "allowance_exceeded"
    default_message = "The purchase is above what is left of your allowance for this term."


class ApprovalRequiredError(ConflictError):
    code = "approval_required"
    default_message = "Your school asks a school administrator to approve purchases at this price."


class PurchaseRequestPendingError(ConflictError):
    code = "purchase_request_pending"
    default_message = "You have already asked for this purchase; it waits for a school administrator."


class PurchaseRequestNotFoundError(NotFoundError):
    code = "purchase_request_not_found"
    default_message = "No such purchase request for your school."


class PurchaseRequestDecidedError(ConflictError):
    code = "purchase_request_decided"
    default_message = "The purchase request has already been decided."


class NotSchoolAdminError(PermissionDeniedError):
    code = "not_school_admin"
    default_message = "Only a school administrator of this school may do this."


class RemixRefusedError(ExchangeError):
    """``decide(user, source, "derive")`` refused: the code is the decision's reason
    (``derivatives_not_allowed`` for ND licences and all-rights-reserved terms)."""

    code = "remix_refused"
    http_status = 403

    def __init__(self, decision: Decision, *, licence_kind: str) -> None:
        super().__init__(str(decision.message), details={**decision.details(), "licence_kind": licence_kind})
        self.code = decision.reason
        self.http_status = REFUSAL_HTTP_STATUS.get(decision.reason, 403)


class ShareAlikeNotKeptError(ConflictError):
    code = "share_alike_not_kept"
    default_message = "The source is under a share-alike licence: the remix must use the same licence."
