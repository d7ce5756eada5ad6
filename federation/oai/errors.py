"""OAI-PMH protocol errors (section 3.6 of the specification).

They are reported inside a normal ``200 OK`` XML response, so each carries the protocol's own
camelCase error code (``oai_code``) besides the node's stable snake_case ``code``.
"""

from __future__ import annotations

from exchange.errors import ExchangeError


class OAIProtocolError(ExchangeError):
    """Base of the OAI-PMH errors; ``oai_code`` is the value of the ``<error code="…">`` attribute."""

    code = "oai_protocol_error"
    http_status = 200
    oai_code = ""


class BadArgumentError(OAIProtocolError):
    code = "oai_bad_argument"
    oai_code = "badArgument"
    default_message = (
        "The request includes illegal arguments, is missing required arguments, "
        "includes a repeated argument, or values for arguments have an illegal syntax."
    )


class BadResumptionTokenError(OAIProtocolError):
    code = "oai_bad_resumption_token"
    oai_code = "badResumptionToken"
    default_message = "The value of the resumptionToken argument is invalid or expired."


class BadVerbError(OAIProtocolError):
    code = "oai_bad_verb"
    oai_code = "badVerb"
    default_message = (
        "Value of the verb argument is not a legal OAI-PMH verb, the verb argument is "
        "missing, or the verb argument is repeated."
    )


class CannotDisseminateFormatError(OAIProtocolError):
    code = "oai_cannot_disseminate_format"
    oai_code = "cannotDisseminateFormat"
    default_message = (
        "The metadata format identified by the value given for the metadataPrefix "
        "argument is not supported by the item or by the repository."
    )


class IdDoesNotExistError(OAIProtocolError):
    code = "oai_id_does_not_exist"
    oai_code = "idDoesNotExist"
    default_message = "The value of the identifier argument is unknown or illegal in this repository."


class NoRecordsMatchError(OAIProtocolError):
    code = "oai_no_records_match"
    oai_code = "noRecordsMatch"
    default_message = (
        "The combination of the values of the from, until, set and metadataPrefix "
        "arguments results in an empty list."
    )


class NoMetadataFormatsError(OAIProtocolError):
    code = "oai_no_metadata_formats"
    oai_code = "noMetadataFormats"
    default_message = "There are no metadata formats available for the specified item."


class NoSetHierarchyError(OAIProtocolError):
    code = "oai_no_set_hierarchy"
    oai_code = "noSetHierarchy"
    default_message = "The repository does not support sets."
