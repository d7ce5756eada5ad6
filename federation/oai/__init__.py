"""OAI-PMH 2.0 data provider: outside harvesters read the node's public catalog at ``/oai``.

All six verbs, metadata formats ``oai_dc`` and IEEE LOM (``lom``), sets by stage and subject,
selective harvesting by datestamp at second granularity, signed resumption tokens on a stable
(datestamp, id) cursor, and withdrawn resources kept as persistent deleted records. The provider only
reads the catalog; the view is :func:`federation.oai.views.oai_endpoint`.
"""
