"""Settings of a node, read from environment variables (see README "Configuration").

This module and ``exchange/urls.py`` form the composition root: the only places that know every app.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from csp.constants import NONE, SELF
from django.utils.translation import gettext_lazy as _

from exchange.config import (
    data_dir_secret_key,
    env_bool,
    env_int,
    env_list,
    env_str,
    mandatory_secret,
    url_origin,
)

BASE_DIR = Path(__file__).resolve().parent.parent
EXCHANGE_ENV = env_str("EXCHANGE_ENV", "development")
PRODUCTION = EXCHANGE_ENV == "production"

DATA_DIR = Path(env_str("EXCHANGE_DATA_DIR", str(BASE_DIR / "var"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = mandatory_secret("SECRET_KEY") if PRODUCTION else (
    env_str("SECRET_KEY") or data_dir_secret_key(DATA_DIR)
)
DEBUG = env_bool("DEBUG", default=not PRODUCTION)

# --- node identity -------------------------------------------------------------------------
EXCHANGE_NODE_ID = env_str("EXCHANGE_NODE_ID", "cn-44")
# A node's level follows the GB/T 2260 code in its id unless set: cn-44 a province, cn-4401 a city
# (prefecture), cn-440106 a county; the national hub is ``hub`` (federation/PROTOCOL.md §3.8).
_NODE_DIGITS = EXCHANGE_NODE_ID.removeprefix("cn-")
_NODE_LEVELS = {2: "province", 4: "city", 6: "county"}
EXCHANGE_NODE_ROLE = env_str(
    "EXCHANGE_NODE_ROLE", _NODE_LEVELS.get(len(_NODE_DIGITS), "province") if _NODE_DIGITS.isdigit() else "province")
if EXCHANGE_NODE_ROLE not in {"hub", "province", "city", "county"}:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("EXCHANGE_NODE_ROLE must be 'hub', 'province', 'city' or 'county'.")
# GB/T 2260 code of the node's region: from its id (cn-44 → 440000, cn-4401 → 440100, cn-440106 → 440106);
# the national hub, run by the Ministry in Beijing, 110000 (it needs a real province for its own organisations).
EXCHANGE_NODE_REGION = env_str(
    "EXCHANGE_NODE_REGION",
    "110000" if EXCHANGE_NODE_ROLE == "hub" else (_NODE_DIGITS + "000000")[:6],
)
EXCHANGE_BASE_URL = env_str("EXCHANGE_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
EXCHANGE_NODE_NAME = env_str("EXCHANGE_NODE_NAME", "")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "axes",
    "csp",
    "exchange",
    "catalog",
    "licensing",
    "federation",
    "spaces",
    "operations",
]

MIDDLEWARE = [
    # First: every response (redirects and refusals included) carries a request id and is counted.
    "exchange.middleware.RequestIdMiddleware",
    "exchange.middleware.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # The API and the federation protocol answer every error in the JSON error shape.
    "exchange.middleware.ApiErrorMiddleware",
    "exchange.middleware.RefuseNulMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last: turns a request axes marked as locked out into exchange.login.lockout_response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "exchange.urls"
WSGI_APPLICATION = "exchange.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "exchange.context_processors.node",
            ],
        },
    },
]

# --- database ------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(DATA_DIR / "exchange.sqlite3"),
            "OPTIONS": {
                "timeout": 30,
                "transaction_mode": "IMMEDIATE",
                # WAL for concurrent readers; a 32 MiB page cache and a 256 MiB memory map, because
                # SQLite's default 2 MiB cache thrashes once random (UUID) keys spread writes over a
                # catalog of 100,000 records (initial federation sync slowed down with N). The WAL is
                # checkpointed every 8,000 pages (32 MiB) instead of 1,000: fewer, larger checkpoints.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-32768; "
                                "PRAGMA mmap_size=268435456; PRAGMA temp_store=MEMORY; PRAGMA wal_autocheckpoint=8000;",
            },
            # Tests use a file too, not SQLite's shared-cache memory database: threads then wait for
            # each other's writes as they do in production (WAL, busy timeout) instead of failing.
            "TEST": {"NAME": str(DATA_DIR / "test-exchange.sqlite3")},
            # A thread keeps its connection across requests: opening one (and running init_command) and
            # closing it took an eighth of a gunicorn worker's time serving searches.
            "CONN_MAX_AGE": env_int("DB_CONN_MAX_AGE", 60),
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- accounts ------------------------------------------------------------------------------
AUTH_USER_MODEL = "exchange.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out username before any password check
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
ANONYMOUS_USER_NAME = None  # guardian: anonymous users hold no object permissions
GUARDIAN_RAISE_403 = False
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"

# --- sign-in protection (exchange.login) ----------------------------------------------------
# Addresses or networks of the reverse proxies in front of the node (comma-separated, e.g. the nginx
# container's network). X-Forwarded-For is believed only when the peer is one of them, read from the
# right; with none (the default) it is ignored. exchange.clientip.client_ip is the one reading of it.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", [])
# django-axes: a username is locked out *at one client address* after LOGIN_FAILURE_LIMIT failures for
# LOGIN_LOCKOUT_SECONDS (not by username alone: anybody could lock a teacher out; not by address alone:
# a school behind one NAT address would be locked out together). Attempts are database rows.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(seconds=env_int("LOGIN_LOCKOUT_SECONDS", 15 * 60))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "exchange.clientip.client_ip"
AXES_LOCKOUT_CALLABLE = "exchange.login.lockout_response"
AXES_RESET_ON_SUCCESS = True
# Attempts refused during a lockout do not extend it (they are audited as auth.login_refused).
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_DISABLE_ACCESS_LOG = True  # successful sign-ins are in the audit log
AXES_VERBOSE = False
# --- API tokens (exchange.tokens): refused with token_expired this long after sign-in ----------
API_TOKEN_LIFETIME = env_int("API_TOKEN_LIFETIME", 30 * 24 * 3600)
if API_TOKEN_LIFETIME <= 0:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("API_TOKEN_LIFETIME must be a positive number of seconds.")
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

# --- i18n: Chinese first, English available ------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("简体中文")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "exchange" / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- files (catalog blob store) ------------------------------------------------------------
S3_BUCKET = env_str("S3_BUCKET")
S3_ENDPOINT_URL = env_str("S3_ENDPOINT_URL")
# The object store as browsers reach it: presigned download links are signed for this address (a
# presigned URL's signature covers its host). Unset: S3_ENDPOINT_URL, right when both are the same.
S3_PUBLIC_ENDPOINT_URL = env_str("S3_PUBLIC_ENDPOINT_URL") or S3_ENDPOINT_URL
S3_REGION = env_str("S3_REGION", "us-east-1")
S3_ACCESS_KEY_ID = env_str("S3_ACCESS_KEY_ID")
S3_SECRET_ACCESS_KEY = env_str("S3_SECRET_ACCESS_KEY")
CATALOG_BLOB_STORE = env_str(
    "CATALOG_BLOB_STORE",
    "catalog.storage.S3BlobStore" if S3_BUCKET else "catalog.storage.LocalBlobStore",
)
CATALOG_BLOB_ROOT = DATA_DIR / "blobs"
CATALOG_MAX_UPLOAD_BYTES = env_int("CATALOG_MAX_UPLOAD_BYTES", 512 * 1024 * 1024)
CATALOG_MAX_FILES_PER_RESOURCE = env_int("CATALOG_MAX_FILES_PER_RESOURCE", 20)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# Request bodies: at most this many bytes besides uploaded files (request_too_large), form fields
# (too_many_fields) and files (too_many_files) per request.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 10 * 1024 * 1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = env_int("DATA_UPLOAD_MAX_NUMBER_FIELDS", 1000)
DATA_UPLOAD_MAX_NUMBER_FILES = env_int("DATA_UPLOAD_MAX_NUMBER_FILES", 100)
# ZIP containers (DOCX/PPTX/XLSX, ODF, EPUB, ZIP) are inflated entry by entry, in bounded chunks, to
# check them before anything is stored: beyond these limits an upload is refused as archive_too_large
# (entries, one entry's size, the total size) or archive_bomb (an entry inflating more than
# CATALOG_ARCHIVE_MAX_RATIO times its compressed size, or sizes the bytes contradict).
CATALOG_ARCHIVE_MAX_ENTRIES = env_int("CATALOG_ARCHIVE_MAX_ENTRIES", 10_000)
CATALOG_ARCHIVE_MAX_ENTRY_BYTES = env_int("CATALOG_ARCHIVE_MAX_ENTRY_BYTES", 512 * 1024 * 1024)
CATALOG_ARCHIVE_MAX_TOTAL_BYTES = env_int("CATALOG_ARCHIVE_MAX_TOTAL_BYTES", 1024 * 1024 * 1024)
CATALOG_ARCHIVE_MAX_RATIO = env_int("CATALOG_ARCHIVE_MAX_RATIO", 100)
# A stored blob no row references is removed by `manage.py gc_blobs` only when its last upload (its
# lease) or, without a lease, its write is older than this; an upload of the same bytes renews it.
CATALOG_BLOB_GRACE_SECONDS = env_int("CATALOG_BLOB_GRACE_SECONDS", 6 * 3600)
# The first-page excerpt of a PDF preview parses at most this many bytes of the file.
CATALOG_PREVIEW_MAX_PDF_BYTES = env_int("CATALOG_PREVIEW_MAX_PDF_BYTES", 64 * 1024 * 1024)
# Previews (catalog.previews): a job renders each stored file content once, after upload, import or a
# remote file's fetch (off: only ``manage.py build_previews`` makes them). Each external program (LibreOffice,
# pdftoppm, ffmpeg; an empty name disables one) runs at most CATALOG_PREVIEW_TIMEOUT_SECONDS, in at most
# CATALOG_PREVIEW_MEMORY_BYTES of address space, writing files of at most CATALOG_PREVIEW_MAX_OUTPUT_BYTES.
CATALOG_PREVIEWS_AUTO = env_bool("CATALOG_PREVIEWS_AUTO", True)
CATALOG_PREVIEW_SOFFICE = env_str("CATALOG_PREVIEW_SOFFICE", "soffice")
CATALOG_PREVIEW_PDFTOPPM = env_str("CATALOG_PREVIEW_PDFTOPPM", "pdftoppm")
CATALOG_PREVIEW_FFMPEG = env_str("CATALOG_PREVIEW_FFMPEG", "ffmpeg")
CATALOG_PREVIEW_TIMEOUT_SECONDS = env_int("CATALOG_PREVIEW_TIMEOUT_SECONDS", 120)
CATALOG_PREVIEW_MEMORY_BYTES = env_int("CATALOG_PREVIEW_MEMORY_BYTES", 3 * 1024 * 1024 * 1024)
CATALOG_PREVIEW_MAX_OUTPUT_BYTES = env_int("CATALOG_PREVIEW_MAX_OUTPUT_BYTES", 256 * 1024 * 1024)
CATALOG_PREVIEW_MAX_INPUT_BYTES = env_int("CATALOG_PREVIEW_MAX_INPUT_BYTES", 512 * 1024 * 1024)
CATALOG_PREVIEW_MAX_PAGES = env_int("CATALOG_PREVIEW_MAX_PAGES", 6)
CATALOG_PREVIEW_WIDTH = env_int("CATALOG_PREVIEW_WIDTH", 480)
FILE_UPLOAD_TEMP_DIR = str(DATA_DIR / "tmp")
Path(FILE_UPLOAD_TEMP_DIR).mkdir(parents=True, exist_ok=True)
# Checks the content under review (a new resource or a revision of a published one) must pass before a
# reviewer can approve it: import strings of callables taking a catalog.review.ReviewSubject and returning
# problems ({"code", "message", "field"}), run in order. The machine pre-review's hard findings (negative-list
# terms, copyright conflicts, missing metadata, macros…) block approval.
CATALOG_APPROVAL_CHECKS: list[str] = ["licensing.checks.rights_coherent",
                                      "catalog.prereview.approval.prereview_approval_check"]
# Called after commit, with keywords resource_id (str) and revision_id (int or None), every time a resource
# or a revision of one is submitted for review: the machine pre-review runs as a job on each.
CATALOG_SUBMISSION_HOOKS: list[str] = ["catalog.prereview.jobs.prereview_on_submission"]
# A callable (resource_id: str, revision_id: int | None) -> list of findings ({"code", "severity": "hard" |
# "soft", "field", "message"}) that reviewers see beside the submission: the machine pre-review's.
CATALOG_REVIEW_FINDINGS = env_str("CATALOG_REVIEW_FINDINGS", "catalog.prereview.prereview_findings")
# What the machine pre-review reads for a revision: its proposed content (catalog.review).
CATALOG_PREREVIEW_REVISION_CONTENT = "catalog.review.prereview_content_for_revision"
# Periodic re-review (时效性): an approval sets the resource's review-by date this many months ahead unless
# the reviewer picks one; per resource type where the map names it.
CATALOG_REREVIEW_MONTHS = env_int("CATALOG_REREVIEW_MONTHS", 36)
CATALOG_REREVIEW_MONTHS_BY_TYPE: dict[str, int] = {"试卷": 12, "习题": 24}
# Machine pre-review (catalog.prereview): files are read in a child process killed after this many
# seconds, limited to this much address space; at most this many characters of text per file, pages of a
# PDF, objects of a PDF examined for active content.
CATALOG_PREREVIEW_EXTRACT_SECONDS = env_int("CATALOG_PREREVIEW_EXTRACT_SECONDS", 60)
CATALOG_PREREVIEW_EXTRACT_MEMORY = env_int("CATALOG_PREREVIEW_EXTRACT_MEMORY", 1024 * 1024 * 1024)
CATALOG_PREREVIEW_MAX_TEXT_CHARS = env_int("CATALOG_PREREVIEW_MAX_TEXT_CHARS", 200_000)
CATALOG_PREREVIEW_MAX_PDF_PAGES = env_int("CATALOG_PREREVIEW_MAX_PDF_PAGES", 1000)
CATALOG_PREREVIEW_MAX_PDF_OBJECTS = env_int("CATALOG_PREREVIEW_MAX_PDF_OBJECTS", 200_000)

# --- jobs ----------------------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
EXCHANGE_JOB_QUEUE = env_str(
    "EXCHANGE_JOB_QUEUE", "exchange.jobs.RQQueue" if REDIS_URL else "exchange.jobs.InProcessQueue"
)
RQ_QUEUE_NAME = env_str("RQ_QUEUE_NAME", "exchange")

# --- cache: shared by every worker process (sign-in rate counters, rate-limited audit) --------
# Redis when REDIS_URL is set; otherwise the database (the table exchange_cache, made by migrate),
# which every process and host of the node already shares. Never a per-process memory cache: a limit
# counted in each worker's memory is multiplied by the number of workers.
CACHES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                "KEY_PREFIX": f"exchange:{EXCHANGE_NODE_ID}"}
    if REDIS_URL else
    {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "exchange_cache",
     "OPTIONS": {"MAX_ENTRIES": 100_000}},
}

# --- search --------------------------------------------------------------------------------
ELASTICSEARCH_URL = env_str("ELASTICSEARCH_URL")
ELASTICSEARCH_INDEX_PREFIX = env_str("ELASTICSEARCH_INDEX_PREFIX", f"exchange-{EXCHANGE_NODE_ID}")

# --- API -----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "exchange.tokens.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "exchange.api.exception_handler",
    "DEFAULT_PARSER_CLASSES": [
        "exchange.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    # "login": sign-in attempts per client address, web form and token endpoint together (exchange.login).
    "DEFAULT_THROTTLE_RATES": {"anon": "120/min", "user": "600/min", "login": env_str("LOGIN_RATE", "10/min")},
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
# JSON request bodies (and the JSON held in multipart fields) nested deeper than this are refused.
API_JSON_MAX_DEPTH = env_int("API_JSON_MAX_DEPTH", 32)
SPECTACULAR_SETTINGS = {
    "TITLE": "Courseware Exchange Node API",
    "DESCRIPTION": "Catalog, search, licensing and federation API of a courseware exchange node. "
    'Errors always have the shape {"error": {"code", "message", "details"}}.',
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI is served from the node itself (no CDN).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # A resource's status appears in several components (the resource, a review queue entry): one enum.
    "ENUM_NAME_OVERRIDES": {"ResourceStatusEnum": "catalog.models.Resource.Status",
                            "GrantScopeEnum": "licensing.models.Grant.Scope",
                            "PurchaseScopeEnum": ["school", "personal"]},
}

# --- security ------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp): scripts and styles only from the node's own static files (no
# inline script, no style attribute), nothing may frame a page. Views that need more say so themselves:
# the inline file preview may be framed by the node's own pages; Swagger UI at /api/docs/ gets inline
# styles (exchange.urls). A download form is sent on to the signed link at the node's public base URL
# or to the object store's presigned URL: those origins may receive forms (form-action).
CSP_FORM_ACTION_EXTRA = env_list("CSP_FORM_ACTION_EXTRA", [url_origin(S3_PUBLIC_ENDPOINT_URL)] if S3_PUBLIC_ENDPOINT_URL else (
    [f"https://s3.{S3_REGION}.amazonaws.com"] if S3_BUCKET else []))
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF],
        "media-src": [SELF],
        "font-src": [SELF],
        "connect-src": [SELF],
        "frame-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF, url_origin(EXCHANGE_BASE_URL), *CSP_FORM_ACTION_EXTRA],
        "frame-ancestors": [NONE],
    },
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    # Preloading is a commitment browsers keep for months and cannot be undone quickly: an operator opts in.
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
    # The probes answer over plain HTTP inside the deployment (container healthcheck, Prometheus).
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    if not SECURE_HSTS_PRELOAD:  # check --deploy warns about the default; it is deliberate (deploy/README.md)
        SILENCED_SYSTEM_CHECKS = ["security.W021"]

# --- logging: structured (one JSON object per line), secrets never logged -----------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "exchange.logging.RedactSecretsFilter"},
                "request": {"()": "exchange.logging.RequestContextFilter"}},
    "formatters": {"json": {"()": "exchange.logging.JsonFormatter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["request", "redact"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # The Elasticsearch client logs every request at INFO.
    "loggers": {"django.db.backends": {"level": "WARNING"}, "elastic_transport": {"level": "WARNING"},
                "axes": {"level": "WARNING"},
                # Django's own loggers (django.request's "Forbidden: /path", runserver's access log) through
                # the redacting handler only, instead of the handlers of Django's default logging.
                "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
                "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False}},
}
# URL paths whose rest is a secret (the signed download links licensing mounts at /files/): logged as
# "/files/[REDACTED]" by every handler above and by gunicorn (exchange.logging).
LOG_REDACT_PATH_PREFIXES = ["/files/", "/feeds/"]

# --- readiness: each check is an import string raising on failure --------------------------
EXCHANGE_READINESS_CHECKS = {
    "database": "exchange.health.check_database",
    "storage": "catalog.storage.check_storage",
    "queue": "exchange.jobs.check_queue",
    "search": "catalog.search.check_search",
    # Drains index work a crash or a lost job left pending; never makes the node unready.
    "search_pending": "catalog.search.indexing.check_index_pending",
}
# Shown by /readyz beside the checks, never making the node unready: name -> import string of a function
# returning a JSON object.
EXCHANGE_STATUS_REPORTS = {"previews": "catalog.previews.checks.preview_status"}
# Figures read at scrape time by /metrics (import strings of functions yielding metric families; see
# exchange.metrics): queue depth and failed jobs, review backlog and pending index work, sync per peer.
EXCHANGE_METRICS_COLLECTORS = ["exchange.jobs.queue_metrics", "catalog.metrics.collect", "federation.metrics.collect"]
# Called inside the transaction of every resource change (import strings); see catalog.events.
CATALOG_CHANGE_HOOKS: list[str] = ["federation.outbox.record_change"]
# The same for resources created in bulk (import_corpus): called with their ids.
CATALOG_BULK_CHANGE_HOOKS: list[str] = ["federation.outbox.record_imported"]
# Called after commit with the ids of resources that became public here: published locally, imported,
# or arrived from another node (see catalog.events.resources_published).
CATALOG_PUBLISHED_HOOKS: list[str] = ["spaces.feeds.resources_published_hook"]
# Search indexing of one resource (the ``catalog.jobs.index_resource`` job). Changes reach the index
# through pending rows written in their transaction (catalog.search.indexing.index_pending_drain).
CATALOG_INDEXER = "catalog.search.indexing.index_resource"

# --- licensing ---
# Lifetime of a download link (presigned object-store URL or node-signed /files/ link), in seconds.
LICENSING_DOWNLOAD_URL_TTL = env_int("LICENSING_DOWNLOAD_URL_TTL", 300)

# --- backup and restore (operations.backup) ---
# Directory of the PostgreSQL client tools (pg_dump, pg_restore) when they are not in
# /usr/lib/postgresql/*/bin or on PATH; they must be at least as new as the server.
PG_BIN_DIR = env_str("PG_BIN_DIR")

# --- search backend ---
# Elasticsearch when ELASTICSEARCH_URL is set, otherwise the embedded SQLite FTS5 index in DATA_DIR/search.
CATALOG_SEARCH_BACKEND = env_str(
    "CATALOG_SEARCH_BACKEND",
    "catalog.search.elastic.ElasticsearchBackend" if ELASTICSEARCH_URL
    else "catalog.search.embedded.EmbeddedBackend",
)
CATALOG_SEARCH_DIR = DATA_DIR / "search"
# Embedded backend: each process keeps the matches of recent queries (rowids and BM25 scores) for the current
# index generation, up to this many MiB, as Solr's queryResultCache does (paging, sorting, facet clicks and
# repeated queries skip the full-text pass); 0 turns it off.
CATALOG_SEARCH_MATCH_CACHE_MB = env_int("CATALOG_SEARCH_MATCH_CACHE_MB", 64)
# Called on every page of search results as annotate(*, user, hits) (import strings), e.g. licensing's price.
# licensing's one annotator gives each hit its access badge and its cover (one query for both).
CATALOG_SEARCH_RESULT_ANNOTATORS: list[str] = ["licensing.badges.annotate_search_hits"]

# --- ratings ---------------------------------------------------------------------------------
# The Bayesian average of a resource's ratings: this many imagined votes at this mean are added to the real ones.
CATALOG_RATING_PRIOR_WEIGHT = env_int("CATALOG_RATING_PRIOR_WEIGHT", 10)
CATALOG_RATING_PRIOR_MEAN = float(env_str("CATALOG_RATING_PRIOR_MEAN", "3.0"))

# --- OAI-PMH -------------------------------------------------------------------------------
# The OAI-PMH 2.0 provider at /oai (federation.oai). Identifiers are oai:<repository id>:<uuid>.
OAI_REPOSITORY_IDENTIFIER = env_str("OAI_REPOSITORY_IDENTIFIER", EXCHANGE_NODE_ID)
OAI_REPOSITORY_NAME = env_str("OAI_REPOSITORY_NAME", "")  # empty: "<node name or id> 课件资源交换节点"
OAI_BASE_URL = env_str("OAI_BASE_URL", f"{EXCHANGE_BASE_URL}/oai")
OAI_ADMIN_EMAILS = env_list("OAI_ADMIN_EMAILS", [f"oai-admin@{EXCHANGE_NODE_ID}.exchange.invalid"])
OAI_PAGE_SIZE = env_int("OAI_PAGE_SIZE", 200)  # records or headers per ListRecords/ListIdentifiers page
OAI_TOKEN_TTL_SECONDS = env_int("OAI_TOKEN_TTL_SECONDS", 3600)  # lifetime of one resumption token
OAI_SETS_ENABLED = env_bool("OAI_SETS_ENABLED", True)  # off: the repository answers noSetHierarchy
OAI_INCLUDE_REMOTE = env_bool("OAI_INCLUDE_REMOTE", True)  # also expose records synced from peers

# --- federation ----------------------------------------------------------------------------
# Protocol v1 (federation/PROTOCOL.md). A province enrols with the hub at FEDERATION_HUB_URL; the hub
# is the trust anchor. Every value has an embedded default so a node starts unconfigured.
FEDERATION_HUB_URL = env_str("FEDERATION_HUB_URL", "").rstrip("/")
FEDERATION_HUB_ID = env_str("FEDERATION_HUB_ID", "cn-hub")
FEDERATION_KEY_PATH = Path(env_str("FEDERATION_KEY_PATH", str(DATA_DIR / "node_key.pem")))
# A rotated-out key stays published (and valid for signatures it made) this long after rotation.
FEDERATION_KEY_OVERLAP_SECONDS = env_int("FEDERATION_KEY_OVERLAP_SECONDS", 7 * 24 * 3600)
FEDERATION_CERT_LIFETIME_SECONDS = env_int("FEDERATION_CERT_LIFETIME_SECONDS", 7 * 24 * 3600)
# A province renews its certificate when less than this much of it is left.
FEDERATION_CERT_RENEW_BEFORE_SECONDS = env_int("FEDERATION_CERT_RENEW_BEFORE_SECONDS", 3 * 24 * 3600)
FEDERATION_CLOCK_SKEW = env_int("FEDERATION_CLOCK_SKEW", 300)
FEDERATION_PULL_INTERVAL = env_int("FEDERATION_PULL_INTERVAL", 60)
# Large pages for catch-up: each page is one transaction and one indexing batch (federation_bench).
FEDERATION_PAGE_SIZE = env_int("FEDERATION_PAGE_SIZE", 2000)
FEDERATION_MAX_PAGE_SIZE = env_int("FEDERATION_MAX_PAGE_SIZE", 2000)
# A served page holds at most this many bytes of envelopes (one larger envelope still goes alone);
# a node reads at most FEDERATION_MAX_RESPONSE_BYTES of any peer response into memory.
FEDERATION_MAX_PAGE_BYTES = env_int("FEDERATION_MAX_PAGE_BYTES", 16 * 1024 * 1024)
FEDERATION_MAX_RESPONSE_BYTES = env_int("FEDERATION_MAX_RESPONSE_BYTES", 64 * 1024 * 1024)
FEDERATION_HTTP_TIMEOUT = env_int("FEDERATION_HTTP_TIMEOUT", 30)
# Total deadlines per exchange with a peer (however slowly it answers), and per pull of one peer's feed
# before it yields to the next tick; failing peers back off exponentially up to FEDERATION_BACKOFF_MAX.
FEDERATION_REQUEST_DEADLINE = env_int("FEDERATION_REQUEST_DEADLINE", 120)
FEDERATION_FILE_DEADLINE = env_int("FEDERATION_FILE_DEADLINE", 1800)
FEDERATION_PULL_BUDGET = env_int("FEDERATION_PULL_BUDGET", 300)
FEDERATION_PULL_CONCURRENCY = env_int("FEDERATION_PULL_CONCURRENCY", 4)
FEDERATION_BACKOFF_MAX = env_int("FEDERATION_BACKOFF_MAX", 3600)
# A grant receipt older than this (by its grant date) is refused: settlement is monthly.
FEDERATION_RECEIPT_MAX_AGE_DAYS = env_int("FEDERATION_RECEIPT_MAX_AGE_DAYS", 62)
FEDERATION_POKE_TIMEOUT = env_int("FEDERATION_POKE_TIMEOUT", 5)
# Selective sync: sets this province asks the hub for (e.g. "stage:初中", "stage:高中,subject:数学").
FEDERATION_SETS = env_list("FEDERATION_SETS", [])
# Pokes and poke-triggered pulls run on the rq queue when REDIS_URL is set; otherwise in a background
# thread of this process (False: inline, for tests). See federation.jobs.
FEDERATION_BACKGROUND = env_bool("FEDERATION_BACKGROUND", True)
# Processes that verify envelope signatures of a page in parallel with applying the previous one.
FEDERATION_VERIFY_WORKERS = env_int("FEDERATION_VERIFY_WORKERS", 0)
# Catalog asks this function for the bytes of a remote resource's file (federation.files).
CATALOG_REMOTE_FILE_FETCHER = "federation.files.ensure_local"
# Licensing calls these (import strings) inside the transaction that creates a paid grant.
LICENSING_GRANT_HOOKS = ["federation.receipts.report_grant"]
# Takedown notices about other provinces' resources go to the hub; its decisions come back.
LICENSING_TAKEDOWN_HOOKS = ["federation.takedowns.takedown_event"]
# Paid grants of this node's resources decided elsewhere (signed receipts), for settlement.
LICENSING_REMOTE_SALES = "federation.receipts.received_sales"

# --- teacher spaces: lesson packages and the new-resources feed ---
# E-mail (the digest of new resources; a teacher's purchase waiting for the school administrator): Django's
# backend by import string; the console on embedded defaults.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", f"no-reply@{EXCHANGE_NODE_ID}.exchange.invalid")
# A collection holds at most this many resources; a package zip (built or imported) at most this many bytes.
SPACES_COLLECTION_MAX_ITEMS = env_int("SPACES_COLLECTION_MAX_ITEMS", 200)
SPACES_PACKAGE_MAX_BYTES = env_int("SPACES_PACKAGE_MAX_BYTES", 1024 * 1024 * 1024)
