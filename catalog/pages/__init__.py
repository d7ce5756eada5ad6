"""Web pages of the catalog: the teacher search (``search``), the publisher's upload and resource list
(``publishing``) and the reviewer's queue (``review``). Each page calls the same selectors and services as
the API (``catalog.selectors``, ``catalog.services``, ``catalog.search``); licence badges on search results
come from licensing's search annotator, so nothing here decides who may use a resource."""
