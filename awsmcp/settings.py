"""awsmcp settings: every knob comes from the environment, with safe defaults (see README, "Settings")."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from awsmcp.env import dev_secret, env_bool, env_float, env_int, env_list, env_str
from oauth import redirects, signing_key

BASE_DIR = Path(__file__).resolve().parent.parent
VERSION = "0.1.0"

# --- Django core -----------------------------------------------------------------------------
DEBUG = env_bool("DEBUG", False)
# SECRET_KEY comes from the environment. Development is an explicit opt-in, DEBUG or AWSMCP_DEV (make run): only
# then is a secret made (on first use) and kept in AWSMCP_DEV_SECRET_FILE (git- and docker-ignored, mode 0600).
# A bare `manage.py` (no SECRET_KEY, no AWSMCP_DEV) reads that file if it exists, so `make run` then
# `manage.py createsuperuser` share it, but never makes it; and an environment that looks like a deployment
# (DATABASE_URL, REDIS_URL, MCP_BEHIND_TLS or ALLOWED_HOSTS set) never reads it. Refusals are one line.
_DEPLOYMENT_MARKS = [name for name in ("DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS") if env_str(name)]
_DEPLOYMENT_MARKS += ["MCP_BEHIND_TLS"] if env_bool("MCP_BEHIND_TLS", False) else []
DEVELOPMENT = DEBUG or env_bool("AWSMCP_DEV", False)
# Where the development secret is kept (made only in development, read only without SECRET_KEY).
DEV_SECRET_FILE = Path(env_str("AWSMCP_DEV_SECRET_FILE") or BASE_DIR / ".awsmcp-dev-secret")
SECRET_KEY = env_str("SECRET_KEY") or dev_secret(
    DEV_SECRET_FILE, create=DEVELOPMENT, refuse_because=[] if DEVELOPMENT else _DEPLOYMENT_MARKS
)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "mcp_gateway",
    "docs_proxy",
    "ops",
    "axes",  # the admin login throttle (AXES_* below)
    "oauth2_provider",  # django-oauth-toolkit: the built-in authorization server (OAUTH2_PROVIDER below)
    "oauth",
]
MCP_CONFORMANCE_FIXTURES = env_bool("MCP_CONFORMANCE_FIXTURES", False)
if MCP_CONFORMANCE_FIXTURES:
    INSTALLED_APPS.append("conformance_fixtures")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # the admin's CSS and JS, without a separate static server
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "ops.middleware.ContentSecurityPolicyMiddleware",
    "axes.middleware.AxesMiddleware",  # turns a locked-out login into its 429 page
]

# --- admin login throttle (django-axes) ------------------------------------------------------------
# Failed logins are counted per client IP and, apart, per username: either reaching the limit locks
# that IP (any username) or that username (from any IP), the right password included, until the
# cool-off has passed since the failure that locked it. Attempts and lockouts are listed in the admin (Axes).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_ENABLED = env_bool("ADMIN_LOGIN_THROTTLE", True)
AXES_FAILURE_LIMIT = env_int("ADMIN_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(seconds=env_float("ADMIN_LOGIN_COOLOFF", 900.0))
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_CLIENT_IP_CALLABLE = "awsmcp.login_throttle.client_ip"  # X-Forwarded-For only from TRUSTED_PROXIES
AXES_RESET_ON_SUCCESS = True
# Attempts while locked out are refused without a write: each would add to its attempt's record (and,
# by default, start the cool-off again), so a locked-out client could grow the database without end.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_HTTP_RESPONSE_CODE = 429

ROOT_URLCONF = "awsmcp.urls"
ASGI_APPLICATION = "awsmcp.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "awsmcp" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL") or f"sqlite:///{env_str('SQLITE_PATH') or BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several threads and processes (the server, management commands) write the same file: WAL lets
    # readers go on during a write, and writers wait for each other instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")
# The docs cache's shared layer (L2): Redis when configured; otherwise a table in the SQLite file, so
# that a management command (purge_docs_cache) reaches the same cache as the running server.
DOCS_CACHE_TABLE = "awsmcp_docs_cache"
if REDIS_URL:
    _redis_options = {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1}
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "awsmcp",
            "OPTIONS": _redis_options,
        },
        "docs": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "awsmcp-docs",
            "TIMEOUT": None,
            "OPTIONS": _redis_options,
        },
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py 8's 5 s socket timeout races the layer's 5 s blocking read and loses messages;
                # a longer timeout and a larger pool fix it (docs/architecture.md; channels_redis issue 422).
                "hosts": [
                    {"address": REDIS_URL, "socket_timeout": 10, "socket_connect_timeout": 2, "max_connections": 2000}
                ],
                "capacity": env_int("MCP_CHANNEL_CAPACITY", 1000),
                "expiry": 60,
            },
        },
    }
else:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "awsmcp"},
        "docs": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": DOCS_CACHE_TABLE,
            "TIMEOUT": None,
            "OPTIONS": {"MAX_ENTRIES": env_int("DOCS_CACHE_L2_MAX_ENTRIES", 5000), "CULL_FREQUENCY": 4},
        },
    }
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- transport security ------------------------------------------------------------------------
# Behind TLS (a terminating proxy listed in TRUSTED_PROXIES sets X-Forwarded-Proto), set MCP_BEHIND_TLS.
BEHIND_TLS = env_bool("MCP_BEHIND_TLS", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_TLS else None
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000) if BEHIND_TLS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = BEHIND_TLS
SECURE_SSL_REDIRECT = BEHIND_TLS and env_bool("SECURE_SSL_REDIRECT", False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = BEHIND_TLS
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
# Whitenoise serves straight from the apps' static folders: no collectstatic step, so no STATIC_ROOT by default
# (a missing one drew a warning on every start). Set it only to run collectstatic.
STATIC_ROOT = env_str("STATIC_ROOT") or None
WHITENOISE_USE_FINDERS = True

LOG_FORMAT = env_str("LOG_FORMAT", "json")  # json: one object per line; plain: for a terminal
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s%(trace)s"},
        "json": {"()": "ops.logs.JsonFormatter"},
    },
    # The W3C trace context of the request being handled (SEP-414) goes on every line logged meanwhile.
    "filters": {"trace": {"()": "mcp_gateway.tracing.TraceFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["trace"]}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"awsmcp.access": {"level": env_str("ACCESS_LOG_LEVEL", "INFO")}},
}
# A client's W3C trace context: parent (continue its trace) or link (a new trace, the client's as a span link:
# for a public server that should not let clients choose its trace ids).
MCP_TRACE_CLIENT_CONTEXT = env_str("MCP_TRACE_CLIENT_CONTEXT", "parent")
if MCP_TRACE_CLIENT_CONTEXT not in ("parent", "link"):
    raise ImproperlyConfigured(f"MCP_TRACE_CLIENT_CONTEXT must be parent or link, not {MCP_TRACE_CLIENT_CONTEXT!r}")

# --- MCP gateway -----------------------------------------------------------------------------
MCP_DEFAULT_PARTITION = env_str("MCP_DEFAULT_PARTITION", "aws")
# Who may call the MCP endpoints: none, keys (API keys), oauth (access tokens), keys+oauth. MCP_AUTH_REQUIRED=false
# is the older spelling of none; MCP_AUTH_REQUIRED stays readable as "a credential is required".
MCP_AUTH = env_str("MCP_AUTH", "keys" if env_bool("MCP_AUTH_REQUIRED", True) else "none").strip().lower()
if MCP_AUTH not in ("none", "keys", "oauth", "keys+oauth"):
    raise ImproperlyConfigured(f"MCP_AUTH must be none, keys, oauth or keys+oauth, not {MCP_AUTH!r}")
MCP_AUTH_REQUIRED = MCP_AUTH != "none"
MCP_ALLOWED_ORIGINS = env_list("MCP_ALLOWED_ORIGINS")
MCP_MAX_CONNECTIONS = env_int("MCP_MAX_CONNECTIONS", 10000)
MCP_MAX_BODY_BYTES = env_int("MCP_MAX_BODY_BYTES", 1024 * 1024)
MCP_SSE_KEEPALIVE = env_float("MCP_SSE_KEEPALIVE", 15.0)
MCP_PING_INTERVAL = env_float("MCP_PING_INTERVAL", 30.0)
MCP_PONG_TIMEOUT = env_float("MCP_PONG_TIMEOUT", 10.0)
MCP_PING_MISSES_BEFORE_CLOSE = env_int("MCP_PING_MISSES_BEFORE_CLOSE", 3)
MCP_SESSION_TTL = env_int("MCP_SESSION_TTL", 3600)
MCP_EVENT_REPLAY = env_int("MCP_EVENT_REPLAY", 200)
# Finished answers a session keeps to replay.
MCP_EVENT_REPLAY_BYTES = env_int("MCP_EVENT_REPLAY_BYTES", 8 * 1024 * 1024)
MCP_RATELIMIT_ENABLED = env_bool("MCP_RATELIMIT_ENABLED", True)
# Who answers the entrance checks (keys, rates, stream and session caps): a dotted path to a mcp_gateway.gate.Gate.
MCP_GATE = env_str("MCP_GATE", "oauth.gate.OAuthGate")
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES")
# Bounds on what one client can make the process hold (README, "Security and limits").
MCP_INIT_TIMEOUT = env_float("MCP_INIT_TIMEOUT", 30.0)  # a stream or session not initialized by then is closed
MCP_MAX_SESSIONS = env_int("MCP_MAX_SESSIONS", 20000)  # live sessions per process; the oldest idle is evicted
MCP_SESSION_IDLE_SWEEP = env_float("MCP_SESSION_IDLE_SWEEP", 30.0)  # how often idle sessions are swept
MCP_MAX_BATCH = env_int("MCP_MAX_BATCH", 32)  # requests in one JSON-RPC batch
MCP_MAX_BATCH_ANSWER_BYTES = env_int("MCP_MAX_BATCH_ANSWER_BYTES", 16 * 1024 * 1024)
MCP_STREAM_BUFFER_BYTES = env_int("MCP_STREAM_BUFFER_BYTES", 16 * 1024 * 1024)  # unread output per connection
# subscriptions/listen (2026-07-28): changes queued unsent per listen stream before the stream is ended (the
# client listens again and refetches), and resource URIs one listen stream may subscribe to.
MCP_LISTEN_MAX_QUEUED = env_int("MCP_LISTEN_MAX_QUEUED", 64)
MCP_LISTEN_MAX_RESOURCE_URIS = env_int("MCP_LISTEN_MAX_RESOURCE_URIS", 100)
# Task ids one listen stream may follow (tasks extension); each one's state is queued at once, so at most
# MCP_LISTEN_MAX_QUEUED are taken.
MCP_LISTEN_MAX_TASK_IDS = env_int("MCP_LISTEN_MAX_TASK_IDS", 32)
MCP_KEY_REVOCATION_POLL = env_float("MCP_KEY_REVOCATION_POLL", 2.0)
# Blocking work runs in pools of its own, so a full one delays nothing else.
MCP_DATABASE_THREADS = env_int("MCP_DATABASE_THREADS", 8)  # database and shared-cache calls
# Input-required rounds (SEP-2322): the signed requestState a client echoes between rounds expires after this
# many seconds, may be at most this long, and one request may ask the client at most this many times.
MCP_REQUEST_STATE_TTL = env_float("MCP_REQUEST_STATE_TTL", 600.0)
MCP_REQUEST_STATE_MAX_BYTES = env_int("MCP_REQUEST_STATE_MAX_BYTES", 64 * 1024)
MCP_MAX_INPUT_REQUESTS = env_int("MCP_MAX_INPUT_REQUESTS", 16)

# Tasks (SEP-2663): a tools/call may answer with a task the client polls (tasks/get) on any process; a task keeps
# at most MCP_MAX_INPUT_REQUESTS questions to the client open at once.
MCP_MAX_TASKS = env_int("MCP_MAX_TASKS", 100)  # unfinished tasks per API key (else session, else address)
MCP_MAX_KEPT_TASKS = env_int("MCP_MAX_KEPT_TASKS", 1000)  # finished tasks per owner whose results are kept (TTL)
MCP_MAX_RUNNING_TASKS = env_int("MCP_MAX_RUNNING_TASKS", 1000)  # tasks running in one process
MCP_TASK_TTL = env_float("MCP_TASK_TTL", 3600.0)  # seconds a task and its result live (its work stops then)
MCP_TASK_MAX_TTL = env_float("MCP_TASK_MAX_TTL", 86400.0)  # the longest TTL a tool may ask for its tasks
MCP_TASK_MAX_RESULT_BYTES = env_int("MCP_TASK_MAX_RESULT_BYTES", 2 * 1024 * 1024)  # a result kept for tasks/get
MCP_TASK_POLL_INTERVAL = env_float("MCP_TASK_POLL_INTERVAL", 1.0)  # pollIntervalMs hint; inbox reads in a fleet
MCP_TASK_INLINE_SECONDS = env_float("MCP_TASK_INLINE_SECONDS", 1.0)  # a docs call done this soon gets no task
MCP_TASK_MEMORY_BYTES = env_int("MCP_TASK_MEMORY_BYTES", 256 * 1024 * 1024)  # task records, without Redis

# --- OAuth 2.1 (README, "OAuth") ------------------------------------------------------------------
# The canonical resource URI of the MCP endpoints; empty: {scheme}://{Host}/mcp of each request.
MCP_RESOURCE_URL = env_str("MCP_RESOURCE_URL")
MCP_OAUTH_ISSUER = env_str("MCP_OAUTH_ISSUER")  # an external issuer; empty: the built-in one at {origin}/oauth
MCP_OAUTH_AUDIENCE = env_list("MCP_OAUTH_AUDIENCE")  # accepted audiences; empty: the resource URI
MCP_OAUTH_AUDIENCE_CLAIM = env_str("MCP_OAUTH_AUDIENCE_CLAIM", "aud")
MCP_OAUTH_SCOPE_PREFIX = env_str("MCP_OAUTH_SCOPE_PREFIX")
MCP_OAUTH_JWKS_URL = env_str("MCP_OAUTH_JWKS_URL")
MCP_OAUTH_INTROSPECTION_URL = env_str("MCP_OAUTH_INTROSPECTION_URL")
MCP_OAUTH_INTROSPECTION_CLIENT_ID = env_str("MCP_OAUTH_INTROSPECTION_CLIENT_ID")
MCP_OAUTH_INTROSPECTION_CLIENT_SECRET = env_str("MCP_OAUTH_INTROSPECTION_CLIENT_SECRET")
MCP_OAUTH_ALGORITHMS = env_list("MCP_OAUTH_ALGORITHMS", ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"])
MCP_OAUTH_JWKS_TTL = env_float("MCP_OAUTH_JWKS_TTL", 300.0)
MCP_OAUTH_JWKS_MAX_BYTES = env_int("MCP_OAUTH_JWKS_MAX_BYTES", 65536)
MCP_OAUTH_FETCH_TIMEOUT = env_float("MCP_OAUTH_FETCH_TIMEOUT", 5.0)
MCP_OAUTH_TOKEN_CACHE = env_int("MCP_OAUTH_TOKEN_CACHE", 1024)  # checked tokens remembered per process
MCP_OAUTH_TOKEN_CACHE_SECONDS = env_float("MCP_OAUTH_TOKEN_CACHE_SECONDS", MCP_KEY_REVOCATION_POLL)
MCP_OAUTH_LEEWAY = env_float("MCP_OAUTH_LEEWAY", 30.0)  # clock skew allowed on exp, nbf, iat
MCP_OAUTH_DCR = env_bool("MCP_OAUTH_DCR", True)  # RFC 7591 open registration on the built-in server
MCP_OAUTH_CIMD = env_bool("MCP_OAUTH_CIMD", True)  # Client ID Metadata Documents on the built-in server
MCP_OAUTH_SCOPES = env_str("MCP_OAUTH_SCOPES", "docs:read docs:search").split()
# Private-use URI schemes (RFC 8252 §7.1) native clients may register redirect URIs under, besides https and
# loopback http: Cursor registers cursor://anysphere.cursor-mcp/oauth/callback. javascript:, data:, file: and the
# like stop the start (oauth.redirects).
MCP_OAUTH_REDIRECT_SCHEMES = redirects.private_schemes(
    env_str("MCP_OAUTH_REDIRECT_SCHEMES", "cursor vscode vscode-insiders")
)
# partition -> scope that partition also needs, e.g. MCP_PARTITION_SCOPES="aws-cn=docs:cn"
MCP_PARTITION_SCOPES = dict(item.split("=", 1) for item in env_list("MCP_PARTITION_SCOPES") if "=" in item)
MCP_OAUTH_ACCESS_TOKEN_TTL = env_int("MCP_OAUTH_ACCESS_TOKEN_TTL", 3600)
MCP_OAUTH_REFRESH_TOKEN_TTL = env_int("MCP_OAUTH_REFRESH_TOKEN_TTL", 2592000)
MCP_OAUTH_JWT_ACCESS_TOKENS = env_bool("MCP_OAUTH_JWT_ACCESS_TOKENS", False)  # else opaque (checked in the database)
# The PEM that signs JWT access tokens; empty: one made once into oauth-signing-key.pem beside the SQLite file.
MCP_OAUTH_SIGNING_KEY = env_str("MCP_OAUTH_SIGNING_KEY")
# Tests only: host[:port] a client ID metadata document may be fetched from although it is not a public address.
MCP_OAUTH_CIMD_ALLOW_HOSTS = env_list("MCP_OAUTH_CIMD_ALLOW_HOSTS")
MCP_OAUTH_CIMD_MAX_BYTES = env_int("MCP_OAUTH_CIMD_MAX_BYTES", 16384)  # a client ID metadata document
MCP_OAUTH_CIMD_TIMEOUT = env_float("MCP_OAUTH_CIMD_TIMEOUT", 5.0)  # seconds a whole document fetch may take
MCP_OAUTH_INTROSPECTION_CONCURRENCY = env_int("MCP_OAUTH_INTROSPECTION_CONCURRENCY", 4)  # RFC 7662 calls in flight
# Introspected tokens kept per process so the warden can ask about them again; past it the least recently seen is
# dropped, and its sessions are no longer re-checked (logged; they end when they idle or the token expires).
MCP_OAUTH_INTROSPECTED_MAX = env_int("MCP_OAUTH_INTROSPECTED_MAX", 10000)
# Dynamic client registrations (RFC 7591) one address may make (django-ratelimit syntax; empty: no limit).
MCP_OAUTH_REGISTRATION_RATE = env_str("MCP_OAUTH_REGISTRATION_RATE", "30/h")
# Dynamically registered and CIMD clients the built-in server keeps at most; past it new ones are refused.
MCP_OAUTH_MAX_CLIENTS = env_int("MCP_OAUTH_MAX_CLIENTS", 10000)

if MCP_OAUTH_JWT_ACCESS_TOKENS and not MCP_OAUTH_SIGNING_KEY:
    if env_str("DATABASE_URL"):
        raise ImproperlyConfigured("MCP_OAUTH_JWT_ACCESS_TOKENS with DATABASE_URL needs MCP_OAUTH_SIGNING_KEY (a PEM)")
    MCP_OAUTH_SIGNING_KEY = signing_key.load_or_create(
        Path(env_str("SQLITE_PATH") or BASE_DIR / "db.sqlite3").parent / "oauth-signing-key.pem"
    )

LOGIN_URL = "oauth-login"  # where the authorization endpoint sends a browser that is not signed in
OAUTH2_PROVIDER = {
    "PKCE_REQUIRED": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,  # plain refused (and, by oauth.validator, before consent)
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,  # RFC 9207 iss (set by oauth.views to the issuer)
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,  # tokens stored hashed
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,  # a refresh token used twice revokes its whole family
    "ACCESS_TOKEN_EXPIRE_SECONDS": MCP_OAUTH_ACCESS_TOKEN_TTL,
    "REFRESH_TOKEN_EXPIRE_SECONDS": MCP_OAUTH_REFRESH_TOKEN_TTL,
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    "REQUEST_APPROVAL_PROMPT": "force",
    "ALLOW_LOCALHOST_LOOPBACK": True,  # mcp-remote registers http://localhost:PORT/oauth/callback
    # http for loopback hosts only, the private-use schemes matched exactly: oauth.redirects
    "ALLOWED_REDIRECT_URI_SCHEMES": ["http", "https", *MCP_OAUTH_REDIRECT_SCHEMES],
    "OAUTH2_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OAUTH2_GRANT_TYPES_SUPPORTED": ["authorization_code", "refresh_token"],
    "OAUTH2_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED": ["none", "client_secret_post", "client_secret_basic"],
    "SCOPES": {
        "docs:read": "Read AWS documentation pages, sections, tables and recommendations",
        "docs:search": "Search the AWS documentation",
        **{scope: f"Use the {partition} partition" for partition, scope in MCP_PARTITION_SCOPES.items()},
    },
    "DEFAULT_SCOPES": MCP_OAUTH_SCOPES,
    "DCR_ENABLED": MCP_OAUTH_DCR,
    "DCR_REGISTRATION_PERMISSION_CLASSES": ("oauth2_provider.dcr.AllowAllDCRPermission",),
    "CIMD_ENABLED": MCP_OAUTH_CIMD,
    "CIMD_METADATA_FETCHER": "oauth.cimd.Fetcher",
    "CIMD_REGISTRATION_PERMISSION_CLASSES": ("oauth.limits.RoomForClients",),
    "CIMD_MAX_DOCUMENT_SIZE": MCP_OAUTH_CIMD_MAX_BYTES,
    "CIMD_FETCH_TIMEOUT_SECONDS": MCP_OAUTH_CIMD_TIMEOUT,
    "OAUTH2_VALIDATOR_CLASS": "oauth.validator.Validator",
    "REFRESH_TOKEN_GENERATOR": "oauthlib.oauth2.rfc6749.tokens.random_token_generator",
}
if MCP_OAUTH_JWT_ACCESS_TOKENS:
    # OIDC only so far as DOT's JWKS view publishes the key the JWT access tokens are signed with.
    OAUTH2_PROVIDER |= {
        "ACCESS_TOKEN_GENERATOR": "oauth.jwt.generate",
        "OIDC_ENABLED": True,
        "OIDC_RSA_PRIVATE_KEY": MCP_OAUTH_SIGNING_KEY,
    }

# --- ops -------------------------------------------------------------------------------------
OPS_ACTIVITY_FLUSH = env_float("OPS_ACTIVITY_FLUSH", 5.0)
OPS_CONNECTION_LEASE = env_float("OPS_CONNECTION_LEASE", 30.0)
OPS_CONNECTION_HISTORY = env_int("OPS_CONNECTION_HISTORY", 86400)
# Seconds after its last message that a Streamable HTTP session with no open stream still counts as open (then: idle).
OPS_ACTIVE_WINDOW = env_float("OPS_ACTIVE_WINDOW", 120.0)
OPS_RULES_POLL = env_float("OPS_RULES_POLL", 1.0)
# The docs cache's L2 entries counted at most (the cache page, a purge's dry run): past it they say "≥ N".
OPS_CACHE_COUNT_MAX = env_int("OPS_CACHE_COUNT_MAX", 100_000)
RATELIMIT_USE_CACHE = "default"
# The audit trail of tool calls (ops/audit.py): a line per call on the awsmcp.audit logger (WARNING: no lines) ...
OPS_AUDIT_LOG_LEVEL = env_str("OPS_AUDIT_LOG_LEVEL", "INFO")
LOGGING["loggers"]["awsmcp.audit"] = {"level": OPS_AUDIT_LOG_LEVEL}  # type: ignore[index]
# ... and a row per call in the ops_auditentry table, written in batches off the event loop (false: the log only).
OPS_AUDIT_DB = env_bool("OPS_AUDIT_DB", True)
OPS_AUDIT_QUEUE = env_int("OPS_AUDIT_QUEUE", 10_000)  # calls waiting for their batch; more are dropped and counted
OPS_AUDIT_FLUSH = env_float("OPS_AUDIT_FLUSH", 1.0)  # seconds between batches
OPS_AUDIT_VALUE_CHARS = env_int("OPS_AUDIT_VALUE_CHARS", 512)  # an argument's value is cut to this many characters
OPS_AUDIT_RETENTION_DAYS = env_float("OPS_AUDIT_RETENTION_DAYS", 30.0)  # rows older are deleted; 0: kept by age
OPS_AUDIT_MAX_ROWS = env_int("OPS_AUDIT_MAX_ROWS", 1_000_000)  # the oldest rows past this many go; 0: no cap
OPS_AUDIT_PRUNE_EVERY = env_float("OPS_AUDIT_PRUNE_EVERY", 60.0)  # seconds between retention rounds

# --- AWS documentation origins ---------------------------------------------------------------
AWS_DOCS_ORIGIN = env_str("AWS_DOCS_ORIGIN", "https://docs.aws.amazon.com")
AWS_CN_DOCS_ORIGIN = env_str("AWS_CN_DOCS_ORIGIN", "https://docs.amazonaws.cn")
AWS_DOCS_SEARCH_URL = env_str("AWS_DOCS_SEARCH_URL", "https://proxy.search.docs.aws.com/search")
AWS_DOCS_RECOMMEND_URL = env_str("AWS_DOCS_RECOMMEND_URL", "https://api.contentrecs.docs.aws.com/v1/recommendations")
DOCS_MAX_PAGE_BYTES = env_int("DOCS_MAX_PAGE_BYTES", 5 * 1024 * 1024)
DOCS_USER_AGENT = env_str("DOCS_USER_AGENT")  # empty: "awsmcp/<version> (AWS documentation MCP server)"
DOCS_CONNECT_TIMEOUT = env_float("DOCS_CONNECT_TIMEOUT", 5.0)
DOCS_READ_TIMEOUT = env_float("DOCS_READ_TIMEOUT", 10.0)
DOCS_FETCH_DEADLINE = env_float("DOCS_FETCH_DEADLINE", 20.0)
DOCS_FETCH_RETRIES = env_int("DOCS_FETCH_RETRIES", 2)
DOCS_MAX_CONCURRENT_FETCHES = env_int("DOCS_MAX_CONCURRENT_FETCHES", 16)  # also the fetch pool's threads
DOCS_CONVERT_WORKERS = env_int("DOCS_CONVERT_WORKERS", 2)  # conversion processes
DOCS_CONVERT_TIMEOUT = env_float("DOCS_CONVERT_TIMEOUT", 15.0)  # CPU seconds one page may take to convert
DOCS_CONVERT_MEMORY_MB = env_int("DOCS_CONVERT_MEMORY_MB", 1024)  # address space of a conversion process
DOCS_CONVERT_NICE = env_int("DOCS_CONVERT_NICE", 10)  # conversion yields the CPU to serving cached reads
# A page that failed to convert is not refetched for this long.
DOCS_CONVERT_FAILURE_TTL = env_float("DOCS_CONVERT_FAILURE_TTL", 300.0)
DOCS_MAX_QUERY_CHARS = env_int("DOCS_MAX_QUERY_CHARS", 1000)  # search_table query, search phrases
DOCS_MAX_SECTION_TITLES = env_int("DOCS_MAX_SECTION_TITLES", 50)  # read_sections titles per call
DOCS_MAX_TITLE_CHARS = env_int("DOCS_MAX_TITLE_CHARS", 500)  # a section title, a product or guide name
DOCS_MAX_FILTER_TERMS = env_int("DOCS_MAX_FILTER_TERMS", 20)  # search_documentation product_types, guide_types
DOCS_MAX_TOKENS_ARG = env_int("DOCS_MAX_TOKENS_ARG", 100_000)  # read_documentation, read_sections max_tokens
DOCS_TRUST_ENV_PROXIES = env_bool("DOCS_TRUST_ENV_PROXIES", True)
DOCS_CACHE_L1_TTL = env_int("DOCS_CACHE_L1_TTL", 60)
DOCS_CACHE_L1_BYTES = env_int("DOCS_CACHE_L1_BYTES", 64 * 1024 * 1024)
DOCS_CACHE_L2_TTL = env_int("DOCS_CACHE_L2_TTL", 3600)
DOCS_CACHE_L2_TIMEOUT = env_float("DOCS_CACHE_L2_TIMEOUT", 1.0)  # seconds an L2 call waits for a locked database
DOCS_STALE_IF_ERROR = env_int("DOCS_STALE_IF_ERROR", 86400)
DOCS_SEARCH_TTL = env_int("DOCS_SEARCH_TTL", 600)
# The local search index (docs_proxy/search_index): every converted page, bounded in pages and text per page
DOCS_INDEX_ENABLED = env_bool("DOCS_INDEX_ENABLED", True)
DOCS_INDEX_MAX_PAGES = env_int("DOCS_INDEX_MAX_PAGES", 100_000)
DOCS_INDEX_MAX_CHARS = env_int("DOCS_INDEX_MAX_CHARS", 100_000)
DOCS_INDEX_MAX_HEADINGS = env_int("DOCS_INDEX_MAX_HEADINGS", 500)
DOCS_INDEX_DELETE_BATCH = env_int("DOCS_INDEX_DELETE_BATCH", 50)  # pages removed per transaction at the bound
DOCS_INDEX_QUEUE = env_int("DOCS_INDEX_QUEUE", 256)  # pages waiting for the index per process; more are dropped
# Seconds the search API is not asked after a timeout or a 5xx (the local index answers; 0: always ask)
DOCS_SEARCH_API_BACKOFF = env_float("DOCS_SEARCH_API_BACKOFF", 30.0)
# Local search over the index: its engine, the bounds of a query, and the AWS search API's fallback to it
DOCS_INDEX_ENGINE = env_str("DOCS_INDEX_ENGINE", "auto")  # auto (the database's own), sqlite or postgresql
DOCS_INDEX_MAX_WORDS = env_int("DOCS_INDEX_MAX_WORDS", 32)  # words of a phrase searched; the rest are ignored
DOCS_INDEX_MAX_WORD_CHARS = env_int("DOCS_INDEX_MAX_WORD_CHARS", 64)  # a longer "word" is not searched
DOCS_INDEX_CONTEXT_CHARS = env_int("DOCS_INDEX_CONTEXT_CHARS", 300)  # a result's context excerpt
DOCS_INDEX_RANK_CANDIDATES = env_int("DOCS_INDEX_RANK_CANDIDATES", 300)  # pages ranked by relevance per search
# Seconds (at most DOCS_FETCH_DEADLINE) the search API has before search answers from the local index instead
DOCS_SEARCH_API_TIMEOUT = env_float("DOCS_SEARCH_API_TIMEOUT", 6.0)
DOCS_RECOMMEND_TTL = env_int("DOCS_RECOMMEND_TTL", 3600)
DOCS_STATS_FLUSH = env_float("DOCS_STATS_FLUSH", 5.0)
DOCS_PURGE_POLL = env_float("DOCS_PURGE_POLL", 1.0)
# Pages as MCP resources (issue 17): entries per resources/list page (1 to 1000; the indexed pages follow the
# catalogue's own resources, a signed keyset cursor between pages).
MCP_RESOURCES_PAGE_SIZE = env_int("MCP_RESOURCES_PAGE_SIZE", 100)
# Batch reads (docs_proxy/batch.py): the pages one read_documentation_batch call may read (taken within 1 to 50),
# and the characters and tokens (requests with max_tokens) of text its pages share, spent in request order
DOCS_BATCH_MAX_PAGES = env_int("DOCS_BATCH_MAX_PAGES", 10)
DOCS_BATCH_MAX_CHARS = env_int("DOCS_BATCH_MAX_CHARS", 200_000)
DOCS_BATCH_MAX_TOKENS = env_int("DOCS_BATCH_MAX_TOKENS", 50_000)
# The crawl (python manage.py index_docs) and the index's figures on the admin cache page
DOCS_CRAWL_PACE = env_float("DOCS_CRAWL_PACE", 0.5)  # seconds between the starts of two fetches of a crawl
DOCS_CRAWL_CONCURRENCY = env_int("DOCS_CRAWL_CONCURRENCY", 4)  # a crawl's fetches at once (<= the fetch cap)
DOCS_CRAWL_MAX_PAGES = env_int("DOCS_CRAWL_MAX_PAGES", 5000)  # pages per guide in one run
DOCS_CRAWL_MAX_TOC_BYTES = env_int("DOCS_CRAWL_MAX_TOC_BYTES", 4 * 1024 * 1024)  # a guide's toc-contents.json
DOCS_CRAWL_MAX_TOC_ENTRIES = env_int("DOCS_CRAWL_MAX_TOC_ENTRIES", 20_000)  # TOC entries read per guide
DOCS_INDEX_ADMIN_GUIDES = env_int("DOCS_INDEX_ADMIN_GUIDES", 20)  # guides listed on the admin cache page
