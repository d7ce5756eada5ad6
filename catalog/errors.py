"""Catalog errors, each with a stable code."""

from exchange.errors import (
    ConflictError,
    ExchangeError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)


class ResourceNotFoundError(NotFoundError):
    code = "resource_not_found"
    default_message = "No such resource."


class ResourceReadOnlyError(ConflictError):
    code = "resource_read_only"
    default_message = "This resource was published by another node and is read-only here."


class ResourceTakenDownError(ConflictError):
    code = "resource_taken_down"
    default_message = ("This resource was taken down; only a reinstatement by whoever ordered the takedown "
                       "makes it public again.")


class InvalidTransitionError(ConflictError):
    code = "invalid_transition"
    default_message = "The resource cannot move to that status from its current status."


class NotReviewerError(PermissionDeniedError):
    code = "not_reviewer"
    default_message = "Only reviewers of the resource's province may review it."


class NotPublisherMemberError(PermissionDeniedError):
    code = "not_publisher_member"
    default_message = "Only members of the resource's publisher may change it."


class VocabularyError(InvalidInputError):
    code = "unknown_vocabulary_term"
    default_message = "A value is not in the controlled vocabulary."


class RightsInvalidError(InvalidInputError):
    code = "rights_invalid"
    default_message = "The rights statement is not valid."


class ApprovalCheckFailedError(ExchangeError):
    code = "approval_check_failed"
    http_status = 422
    default_message = "The resource cannot be approved."


class UploadError(ExchangeError):
    code = "upload_invalid"
    http_status = 400


class FileTooLargeError(UploadError):
    code = "file_too_large"
    http_status = 413


class EmptyFileError(UploadError):
    code = "file_empty"


class ChecksumMismatchError(UploadError):
    code = "checksum_mismatch"


class FileTypeNotAllowedError(UploadError):
    code = "file_type_not_allowed"
    http_status = 415


class FileTypeMismatchError(UploadError):
    code = "file_type_mismatch"
    http_status = 415


class FileNameInvalidError(UploadError):
    code = "file_name_invalid"
    default_message = "The file name is not accepted."


class ArchiveTooLargeError(UploadError):
    """A ZIP container (office document, e-book, archive) that inflates beyond the configured limits."""

    code = "archive_too_large"
    http_status = 413


class ArchiveBombError(UploadError):
    """A ZIP container built to exhaust whoever inflates it (extreme ratio, overlapping entries,
    sizes its bytes contradict)."""

    code = "archive_bomb"


class TooManyFilesError(UploadError):
    code = "too_many_files"


class NoFilesError(UploadError):
    code = "no_files"
    default_message = "A resource needs at least one file before it can be submitted."


class FileNotFoundInResourceError(NotFoundError):
    code = "file_not_found"
    default_message = "The resource (or its open revision) has no file with this id."


class RevisionNotFoundError(NotFoundError):
    code = "revision_not_found"
    default_message = "The resource has no open revision."


class RevisionInReviewError(ConflictError):
    code = "revision_in_review"
    default_message = ("A revision of this resource is waiting for review; it cannot be changed until it is "
                       "decided (or cancelled by its publisher).")


class RevisionEmptyError(ConflictError):
    code = "revision_empty"
    default_message = "The revision changes nothing in the live version."


class CommitmentRequiredError(PermissionDeniedError):
    code = "commitment_required"
    default_message = ("The publishing organisation has not accepted the content commitment (承诺书) yet; a "
                       "publisher of the organisation must accept it before the first submission.")


class CommitmentOutdatedError(ConflictError):
    code = "commitment_outdated"
    default_message = "A newer version of the content commitment exists; read and accept that one."


class SecondReviewerRequiredError(ConflictError):
    code = "second_reviewer_required"
    default_message = ("The province requires two reviewers: you approved this submission already, another "
                       "reviewer must concur.")


class DimensionFailedError(InvalidInputError):
    code = "dimension_failed"
    default_message = "A review dimension failed: reject the submission with a reason instead of approving it."


class RatingNotAllowedError(PermissionDeniedError):
    code = "rating_not_allowed"
    default_message = "Only teachers may rate resources."


class RatingClosedError(ConflictError):
    code = "rating_closed"
    default_message = "Only published resources can be rated."


class CommentRefusedError(InvalidInputError):
    code = "comment_refused"
    default_message = "The comment contains words that may not be published (machine pre-review)."


class RatingNotFoundError(NotFoundError):
    code = "rating_not_found"
    default_message = "No such rating."
