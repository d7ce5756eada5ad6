"""Teachers' ratings and comments on resources (评价): one rating per teacher and resource (1–5, may be
changed), an optional comment that passes the machine pre-review's negative list and that the province's
reviewers may hide, a Bayesian average per resource so a few votes do not outrank many, and the
publisher's view of the feedback on their resources.

Modules: ``models``, ``services`` (writes), ``selectors`` (reads), ``apis``, ``pages``."""
