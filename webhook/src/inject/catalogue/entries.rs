//! The table: one entry per annotation (or per-secret prefix), in the order of the README's table.
//!
//! Adding an annotation starts here: name, value kind, default, scope and a one-line effect. The
//! readers in `spec.rs`, `sections.rs` and `secrets.rs` take these entries (never a bare string), the
//! unknown-annotation warning is derived from this table, and `README.md`'s annotation table is
//! rendered from it (`UPDATE_GOLDEN=1 cargo test -p ferrovault-webhook catalogue` rewrites it).

use super::DefaultValue::{Described, Fixed, Unset};
use super::Kind::*;
use super::{
    Annotation, DefaultValue, defines, family, ferrovault, ferrovault_per_secret, injector, per_secret, vault,
};
use crate::inject::defaults::InjectorDefaults;

/// The defaults of the injector's flags that have no flag of their own (the agent's log settings).
const fn fixed_default(value: fn(&InjectorDefaults) -> String) -> DefaultValue {
    DefaultValue::Injector { flag: None, value }
}

macro_rules! catalogue {
    ($($id:ident = $entry:expr;)*) => {
        $(
            #[doc = concat!("The catalogue entry of `", stringify!($id), "`.")]
            pub static $id: Annotation = $entry;
        )*
        /// Every entry, in the order of the README's table.
        pub static ALL: &[&Annotation] = &[$(&$id),*];
    };
}

catalogue! {
    // --- Whether and how to inject
    INJECT = vault("agent-inject", Bool, Fixed("false"), "inject the agent into this pod");
    INJECT_STATUS = vault("agent-inject-status", Text, Unset,
        "written by the injector: a pod whose value is `injected` is not injected again");
    PRE_POPULATE = vault("agent-pre-populate", Bool, Fixed("true"),
        "add the init container that renders the secrets before the app starts");
    PRE_POPULATE_ONLY = vault("agent-pre-populate-only", Bool, Fixed("false"),
        "add only the init container (no sidecar keeps the secrets fresh)");
    INIT_FIRST = vault("agent-init-first", Bool, Fixed("false"),
        "put the agent's init container before the pod's own init containers");
    INJECT_CONTAINERS = vault("agent-inject-containers", Names, Described("every container"),
        "the app containers that get the secrets volume mounts");
    IMAGE = vault("agent-image", Image, injector("--agent-image", |d| d.agent_image.clone()),
        "image of the agent containers (it must hold `/ferrovault-agent`: Vault's and OpenBao's images \
         are warned about)");
    REQUEST_NAMESPACE = vault("agent-request-namespace", Text, Unset,
        "accepted without a warning but not passed to the agent yet").unread();
    EXTRA_SECRET = vault("agent-extra-secret", Name, Unset,
        "a Kubernetes Secret mounted into the agent containers at `/vault/custom`");
    COPY_VOLUME_MOUNTS = vault("agent-copy-volume-mounts", Name, Unset,
        "copy this container's volume mounts (not the service-account one) into the agent containers");
    SERVICE_ACCOUNT_TOKEN_VOLUME_NAME = vault("agent-service-account-token-volume-name", Name,
        Described("the volume mounted at a path containing `serviceaccount`"),
        "the projected volume holding the service-account token the agent logs in with");
    JSON_PATCH = vault("agent-json-patch", JsonPatch, Unset,
        "an RFC 6902 patch applied to the `vault-agent` container");
    INIT_JSON_PATCH = vault("agent-init-json-patch", JsonPatch, Unset,
        "an RFC 6902 patch applied to the `vault-agent-init` container");
    SHARE_PROCESS_NAMESPACE = vault("agent-share-process-namespace", Bool, Described("the pod's own"),
        "set the pod's `shareProcessNamespace`");
    CONFIGMAP = vault("agent-configmap", Name, Unset,
        "a ConfigMap of Vault Agent config files mounted at `/vault/configs`: the agents run from its \
         `config-init.hcl` / `config.hcl` (HCL or JSON; what ferrovault-agent does not do is an error \
         naming block and line at agent start), and role, auth and address annotations are not required");

    // --- The secrets
    INJECT_SECRET = defines("agent-inject-secret-", Text, Unset,
        "the Vault path of secret `<secret>`, rendered to the file `<secret>` (lower-cased unless \
         `preserve-secret-case`)");
    INJECT_TEMPLATE = defines("agent-inject-template-", Template,
        Described("`agent-inject-default-template` of its path"),
        "the template of secret `<secret>` (consul-template syntax), checked at admission");
    INJECT_TEMPLATE_FILE = defines("agent-inject-template-file-", Path, Unset,
        "a template file inside the agent container, rendered as secret `<secret>`");
    INJECT_DEFAULT_TEMPLATE = vault("agent-inject-default-template", OneOf(&["map", "json"]),
        injector("--default-template", |d| d.default_template.clone()),
        "the template of secrets without one of their own");
    INJECT_FILE = per_secret("agent-inject-file-", File, Described("the secret's name"),
        "the file name of secret `<secret>`, inside its secrets volume");
    INJECT_PERMS = per_secret("agent-inject-perms-", Mode, Unset,
        "the file mode of secret `<secret>`'s file");
    INJECT_COMMAND = per_secret("agent-inject-command-", Command, Unset,
        "a command the agent runs after rendering secret `<secret>` (from an agent image of your own)");
    ERROR_ON_MISSING_KEY = per_secret("error-on-missing-key-", Bool, Fixed("false"),
        "a missing key in secret `<secret>`'s data is an error instead of `<no value>`");
    TEMPLATE_LEFT_DELIM = per_secret("agent-template-left-delim-", Text, Fixed("{{"),
        "the left delimiter of secret `<secret>`'s template");
    TEMPLATE_RIGHT_DELIM = per_secret("agent-template-right-delim-", Text, Fixed("}}"),
        "the right delimiter of secret `<secret>`'s template");
    SECRET_VOLUME_PATH = vault("secret-volume-path", Path, Fixed("/vault/secrets"),
        "where the secrets volume is mounted in the app containers");
    SECRET_VOLUME_PATH_FOR = per_secret("secret-volume-path-", Path, Described("`secret-volume-path`"),
        "where secret `<secret>`'s own volume is mounted");
    PRESERVE_SECRET_CASE = vault("preserve-secret-case", Bool, Fixed("false"),
        "keep the case of secret names in file names");
    PRESERVE_SECRET_CASE_FOR = per_secret("preserve-secret-case-", Bool, Described("`preserve-secret-case`"),
        "keep the case of `<secret>` in its file name");
    INJECT_TOKEN = vault("agent-inject-token", Bool, Fixed("false"),
        "also write the agent's Vault token to the file `token` of the secrets volume");

    // --- Vault and auth
    SERVICE = vault("service", Url, injector("--vault-address", |d| d.vault_address.clone()),
        "the Vault address the agents connect to");
    ROLE = vault("role", Text, Unset, "the Vault role to log in as (required with `kubernetes` auth)");
    AUTH_TYPE = vault("auth-type", AuthType, injector("--vault-auth-type", |d| d.auth_type.clone()),
        "the auto-auth method");
    AUTH_PATH = vault("auth-path", Text, injector("--vault-auth-path", |d| d.auth_path.clone()),
        "the mount path of the auth method");
    AUTH_CONFIG = family("auth-config-", Text, Unset,
        "parameter `<param>` of the auth method (dashes become underscores)");
    NAMESPACE = vault("namespace", Text, injector("--vault-namespace", |d| d.vault_namespace.clone()),
        "the Vault Enterprise namespace");
    AUTH_MIN_BACKOFF = vault("auth-min-backoff", Duration,
        injector("--auth-min-backoff", |d| d.auth_min_backoff.clone()),
        "the first delay before auto-auth retries a failed login");
    AUTH_MAX_BACKOFF = vault("auth-max-backoff", Duration,
        injector("--auth-max-backoff", |d| d.auth_max_backoff.clone()),
        "the longest delay between auto-auth retries");
    AUTO_AUTH_EXIT_ON_ERR = vault("agent-auto-auth-exit-on-err", Bool, Fixed("false"),
        "the agent exits when a login fails instead of retrying");
    PROXY_ADDRESS = vault("proxy-address", Url, injector("--proxy-address", |d| d.proxy_address.clone()),
        "the HTTP proxy the agents reach Vault through");
    TLS_SKIP_VERIFY = vault("tls-skip-verify", Bool, Fixed("false"),
        "do not verify Vault's certificate (warned about)");
    TLS_SECRET = vault("tls-secret", Name, Unset,
        "a Kubernetes Secret mounted into the agent containers at `/vault/tls`");
    TLS_SERVER_NAME = vault("tls-server-name", Text, Unset,
        "the server name Vault's certificate is verified against");
    CA_CERT = vault("ca-cert", Path, Unset, "a CA certificate file the agents trust for Vault");
    CA_KEY = vault("ca-key", Path, Unset,
        "a directory of CA certificates the agents trust (Vault Agent's `ca_path`)");
    CLIENT_CERT = vault("client-cert", Path, Unset, "the agents' client certificate file for Vault");
    CLIENT_KEY = vault("client-key", Path, Unset, "the agents' client key file for Vault");
    CLIENT_MAX_RETRIES = vault("client-max-retries", Count, Unset,
        "how often the agent retries a failed request to Vault");
    CLIENT_TIMEOUT = vault("client-timeout", Timeout, Unset, "the timeout of one request to Vault");
    DISABLE_IDLE_CONNECTIONS = vault("agent-disable-idle-connections", Components,
        injector("--disable-idle-connections", |d| d.disable_idle_connections.clone()),
        "the agent's components that keep no idle connections to Vault (Vault Agent's \
         `disable_idle_connections`)");
    DISABLE_KEEP_ALIVES = vault("agent-disable-keep-alives", Components,
        injector("--disable-keep-alives", |d| d.disable_keep_alives.clone()),
        "the agent's components that use no HTTP keep-alives to Vault (Vault Agent's \
         `disable_keep_alives`)");

    // --- The agent containers
    LIMITS_CPU = vault("agent-limits-cpu", Quantity, injector("--cpu-limit", |d| d.cpu_limit.clone()),
        "CPU limit of each agent container");
    LIMITS_MEM = vault("agent-limits-mem", Quantity, injector("--memory-limit", |d| d.memory_limit.clone()),
        "memory limit of each agent container");
    LIMITS_EPHEMERAL = vault("agent-limits-ephemeral", Quantity,
        injector("--ephemeral-storage-limit", |d| d.ephemeral_limit.clone()),
        "ephemeral-storage limit of each agent container");
    REQUESTS_CPU = vault("agent-requests-cpu", Quantity, injector("--cpu-request", |d| d.cpu_request.clone()),
        "CPU request of each agent container");
    REQUESTS_MEM = vault("agent-requests-mem", Quantity,
        injector("--memory-request", |d| d.memory_request.clone()),
        "memory request of each agent container");
    REQUESTS_EPHEMERAL = vault("agent-requests-ephemeral", Quantity,
        injector("--ephemeral-storage-request", |d| d.ephemeral_request.clone()),
        "ephemeral-storage request of each agent container");
    REVOKE_ON_SHUTDOWN = vault("agent-revoke-on-shutdown", Bool,
        injector("--revoke-on-shutdown", |d| d.revoke_on_shutdown.to_string()),
        "the agent revokes its token when it stops");
    REVOKE_GRACE = vault("agent-revoke-grace", Seconds, Unset,
        "checked only: the agent revokes its token itself on SIGTERM, without a preStop delay");
    SET_SECURITY_CONTEXT = vault("agent-set-security-context", Bool,
        injector("--set-security-context", |d| d.set_security_context.to_string()),
        "give the agent containers a restrictive securityContext (warned about when false)");
    RUN_AS_USER = vault("agent-run-as-user", Id, injector("--run-as-user", |d| d.run_as_user.to_string()),
        "the agent containers' uid");
    RUN_AS_GROUP = vault("agent-run-as-group", Id, injector("--run-as-group", |d| d.run_as_group.to_string()),
        "the agent containers' gid");
    RUN_AS_SAME_USER = vault("agent-run-as-same-user", Bool,
        injector("--run-as-same-user", |d| d.run_as_same_user.to_string()),
        "run the agents with the uid of the pod's first container (never root)");
    GO_MAX_PROCS = vault("go-max-procs", Text, Unset,
        "no effect, warned about: the agent is not a Go program");
    LOG_LEVEL = vault("log-level", LogLevel, fixed_default(|d| d.log_level.clone()), "the agent's log level");
    LOG_FORMAT = vault("log-format", OneOf(&["standard", "json"]), fixed_default(|d| d.log_format.clone()),
        "the agent's log format");

    // --- Templates
    TEMPLATE_EXIT_ON_RETRY_FAILURE = vault("template-config-exit-on-retry-failure", Bool,
        injector("--template-config-exit-on-retry-failure", |d| d.exit_on_retry_failure.to_string()),
        "the agent exits when rendering fails after its retries");
    TEMPLATE_STATIC_SECRET_RENDER_INTERVAL = vault("template-static-secret-render-interval", VaultDuration,
        injector("--template-static-secret-render-interval", |d| d.static_secret_render_interval.clone()),
        "how often secrets without a lease are fetched again");
    TEMPLATE_MAX_CONNECTIONS_PER_HOST = vault("template-max-connections-per-host", Count,
        injector("--template-max-connections-per-host", |d| d.max_connections_per_host.to_string()),
        "the most connections the agent opens to Vault (0: the agent's default)");
    TEMPLATE_LEASE_RENEWAL_THRESHOLD = vault("template-lease-renewal-threshold", Ratio,
        injector("--template-lease-renewal-threshold", |d| d.lease_renewal_threshold.to_string()),
        "the part of a lease after which it is renewed (0: the agent's default)");

    // --- The agent's listener: API proxy and cache, quit, metrics
    CACHE_ENABLE = vault("agent-cache-enable", Bool, Fixed("false"),
        "the sidecar serves Vault's API on `127.0.0.1:<agent-cache-listener-port>`, caching leases and \
         tokens (with pre-population: the `vault-agent-cache` volume, as vault-k8s)");
    CACHE_USE_AUTO_AUTH_TOKEN = vault("agent-cache-use-auto-auth-token", OneOf(&["true", "false", "force"]),
        Fixed("true"),
        "requests through the listener without a token get the agent's; `force`: every request does");
    CACHE_LISTENER_PORT = vault("agent-cache-listener-port", Port, Fixed("8200"),
        "the port of the agent's listener on 127.0.0.1");
    CACHE_EXIT_ON_ERR = vault("agent-cache-exit-on-err", Bool, Fixed("false"),
        "`cache.persist.exit_on_err` (the agent keeps its cache in memory: nothing to restore)");
    ENABLE_QUIT = vault("agent-enable-quit", Bool, Fixed("false"),
        "`POST /agent/v1/quit` on the listener stops the sidecar with exit code 0 (Jobs)");
    TELEMETRY = family("agent-telemetry-", Text, Unset,
        "Vault's `telemetry` stanza: `prometheus_retention_time: 0` turns `/agent/v1/metrics` off; other \
         sinks' keys are warned about");

    // --- ferrovault's own
    NATIVE_SIDECAR = ferrovault("native-sidecar", Bool,
        Described("`--native-sidecar` (`auto`: on when Kubernetes ≥ 1.29)"),
        "one init container `vault-agent` with `restartPolicy: Always` and a startupProbe that passes \
         after the first full render, instead of `vault-agent-init` + `vault-agent`");
    STRICT = ferrovault("strict", Bool, Fixed("false"),
        "template problems found at admission deny the pod instead of coming back as warnings");
    SECRETS_READ_ONLY = ferrovault("secrets-read-only", Bool, Fixed("false"),
        "mount the secrets volume read-only into the app containers");
    ENV = ferrovault_per_secret("env-", EnvKeys, Unset,
        "secret `<secret>` renders an env file (`KEY=VALUE` lines): these keys become environment \
         variables of the app containers (`valueFrom.fileKeyRef`; needs the injector's `--env-files`, \
         Kubernetes' `EnvFiles` feature gate and an agent that renders before the app starts)");
    RELOAD_SIGNAL = ferrovault_per_secret("reload-signal-", SignalProcess, Unset,
        "after a re-render changed secret `<secret>`'s file, send this signal to the processes of \
         this name (sets `shareProcessNamespace`; the agent may signal only its own uid)");
    RELOAD_HTTP = ferrovault_per_secret("reload-http-", HttpTarget, Unset,
        "after a re-render changed secret `<secret>`'s file, send this request to the app on the \
         pod's loopback (10 s timeout, 2xx is success)");
    RELOAD_EXEC = ferrovault_per_secret("reload-exec-", Argv, Unset,
        "after a re-render changed secret `<secret>`'s file, run this program in the agent container \
         (no shell, 30 s timeout)");
}
