"""Errors of teacher spaces (each with a stable code; rendered by the one exception handler)."""

from __future__ import annotations

from exchange.errors import ExchangeError, InvalidInputError, NotFoundError, PermissionDeniedError


class CollectionNotFoundError(NotFoundError):
    code = "collection_not_found"
    default_message = "No such collection (or it is not shared with you)."


class NotCollectionOwnerError(PermissionDeniedError):
    code = "not_collection_owner"
    default_message = "Only the collection's owner may change it."


class CollectionFullError(InvalidInputError):
    code = "collection_full"
    default_message = "The collection holds as many resources as it may."


class ResourceNotPublishedError(ExchangeError):
    code = "resource_not_published"
    http_status = 409
    default_message = "Only published resources can be added to a collection."


class PackagePriceChangedError(ExchangeError):
    code = "package_price_changed"
    http_status = 409
    default_message = "The total to pay is not the one you confirmed; look at the package again."


class NothingToPurchaseError(ExchangeError):
    code = "nothing_to_purchase"
    http_status = 409
    default_message = "No item of this package needs a purchase."


class PackageEmptyError(ExchangeError):
    code = "package_empty"
    http_status = 409
    default_message = "You may take none of this package's resources."


class PackageInvalidError(InvalidInputError):
    code = "package_invalid"
    default_message = "The file is not a lesson package this node can import."


class PackageTooLargeError(ExchangeError):
    code = "package_too_large"
    http_status = 413
    default_message = "The lesson package is larger than this node accepts."


class FeedTokenInvalidError(NotFoundError):
    code = "feed_not_found"
    default_message = "No such feed."
