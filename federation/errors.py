"""Errors of the federation services and protocol endpoints (signature errors live in
:mod:`federation.signing.errors`). Each has a stable ``code`` that peers and operators see."""

from __future__ import annotations

from exchange.errors import ExchangeError


class NodeKeyMissingError(ExchangeError):
    code = "node_key_missing"
    http_status = 503
    default_message = "This node has no signing key yet; run `python manage.py node_init`."


class TakedownNotStandingError(ExchangeError):
    code = "takedown_not_standing"
    http_status = 409
    default_message = "No takedown ordered by this node stands against this record."


class NotAHubError(ExchangeError):
    code = "not_a_hub"
    http_status = 404
    default_message = "This node is not a hub."


class NotEnrolledError(ExchangeError):
    code = "not_enrolled"
    http_status = 409
    default_message = "This node is not enrolled with a hub; run `python manage.py federation enrol --hub URL`."


class EnrolmentNotFoundError(ExchangeError):
    code = "enrolment_not_found"
    http_status = 404
    default_message = "No enrolment for this node."


class EnrolmentStateError(ExchangeError):
    code = "enrolment_state_invalid"
    http_status = 409
    default_message = "The enrolment is not in a state that allows this."


class EnrolmentInvalidError(ExchangeError):
    code = "enrolment_invalid"
    http_status = 422
    default_message = "The enrolment request is not valid."


class FingerprintMismatchError(ExchangeError):
    code = "fingerprint_mismatch"
    http_status = 409
    default_message = "The key fingerprint does not match the one given out of band."


class PeerNotAllowedError(ExchangeError):
    code = "peer_not_allowed"
    http_status = 403
    default_message = "This node does not accept that request from the calling node."


class UnknownPeerError(ExchangeError):
    code = "unknown_peer"
    http_status = 404
    default_message = "No such peer node."


class PeerUnreachableError(ExchangeError):
    code = "peer_unreachable"
    http_status = 502
    default_message = "The peer node could not be reached."


class PeerDeadlineExceededError(PeerUnreachableError):
    """The peer did not answer completely within the exchange's total deadline (however slowly it kept
    sending); the next attempt backs off."""

    code = "peer_deadline_exceeded"
    http_status = 504
    default_message = "The peer did not answer within the deadline."


class PeerResponseError(ExchangeError):
    """A peer answered with an error; ``details["peer_code"]`` carries the peer's own error code."""

    code = "peer_error"
    http_status = 502
    default_message = "The peer node answered with an error."

    @property
    def peer_code(self) -> str:
        return str(self.details.get("peer_code", ""))


class FeedInvalidError(ExchangeError):
    code = "feed_invalid"
    http_status = 502
    default_message = "The peer's change feed page is malformed."


class EnvelopeOriginMismatchError(ExchangeError):
    code = "envelope_origin_mismatch"
    http_status = 422
    default_message = "A province's feed may only carry envelopes it originated."


class EnvelopeKeyNotValidError(ExchangeError):
    code = "envelope_key_not_valid"
    http_status = 422
    default_message = "The envelope was issued outside the validity of its origin key."


class SetSpecInvalidError(ExchangeError):
    code = "set_invalid"
    http_status = 400
    default_message = "A set is written field:value[,field:value], with field stage or subject."


class FileNotServedError(ExchangeError):
    code = "file_not_served"
    http_status = 404
    default_message = "This node serves no published file with that sha256."


class RemoteFileUnavailableError(ExchangeError):
    code = "remote_file_unavailable"
    http_status = 502
    default_message = "The file could not be fetched from its origin node."


class RemoteFileChecksumError(ExchangeError):
    code = "remote_file_checksum_mismatch"
    http_status = 502
    default_message = "The file from the origin does not match the sha256 in its signed record."


class ReceiptInvalidError(ExchangeError):
    code = "receipt_invalid"
    http_status = 422
    default_message = "The grant receipt is not valid."


class ReceiptRecordUnknownError(ReceiptInvalidError):
    """Retryable: the receiver does not hold the record version the receipt names (yet)."""

    code = "receipt_record_unknown"
    http_status = 409
    default_message = "The receipt names a record version this node does not hold."


class ReceiptMismatchError(ReceiptInvalidError):
    code = "receipt_mismatch"
    default_message = "The receipt does not agree with the signed record it names (origin, price or version)."


class ReceiptDateInvalidError(ReceiptInvalidError):
    code = "receipt_date_invalid"
    default_message = "The receipt's grant date lies outside the window its record allows."


class NotAParentError(ExchangeError):
    code = "not_a_parent"
    http_status = 404
    default_message = ("This node certifies no other nodes: it is a county, or not certified itself yet.")
