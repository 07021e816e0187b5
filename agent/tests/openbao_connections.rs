//! `disable_keep_alives` / `disable_idle_connections` (vault-k8s's `agent-disable-keep-alives` and
//! `agent-disable-idle-connections`) against a real OpenBao, counted at a loopback TCP proxy: with
//! them, every request to Vault opens its own connection; without, the agent reuses one.

mod support;

use ferrovault_tests::proxy::StallProxy;
use support::{Env, template};

/// Three secrets read one after the other by one template (each `secret` call is a dependency
/// found on the previous render), so the agent makes one login and three reads in sequence.
const TEMPLATE: &str = "{{ with secret \"secret/data/a\" }}{{ .Data.data.v }}{{ end }}\
{{ with secret \"secret/data/b\" }}{{ .Data.data.v }}{{ end }}\
{{ with secret \"secret/data/c\" }}{{ .Data.data.v }}{{ end }}";

fn connections_for(
    env: &mut Env,
    proxy: &StallProxy,
    configure: impl Fn(&mut ferrovault_contract::VaultConnection),
) -> usize {
    let before = proxy.connections();
    let method = env.approle(&[]);
    let mut cfg = env.config(method, vec![template("abc.txt", TEMPLATE)]);
    cfg.vault.address = proxy.url();
    configure(&mut cfg.vault);
    let (status, log) = env.run_init(&cfg, &[]);
    assert!(status.success(), "init failed:\n{log}");
    assert_eq!(
        std::fs::read_to_string(env.secret_file("abc.txt")).unwrap(),
        "123"
    );
    proxy.connections() - before
}

#[test]
fn keep_alives_and_idle_connections_can_be_turned_off_per_component() {
    let mut env = Env::start();
    for (path, v) in [("secret/a", "1"), ("secret/b", "2"), ("secret/c", "3")] {
        env.bao.kv_put(path, &[("v", v)]).unwrap();
    }
    let proxy = StallProxy::start(env.bao.port()).unwrap();

    let pooled = connections_for(&mut env, &proxy, |_| {});
    let no_keep_alives = connections_for(&mut env, &proxy, |v| {
        v.disable_keep_alives = vec!["templating".into()]
    });
    let no_idle = connections_for(&mut env, &proxy, |v| {
        v.disable_idle_connections = vec!["auto-auth".into()]
    });
    // caching/proxying name the API proxy, which runs only with a listener: the shared client keeps its pool
    let cache_only = connections_for(&mut env, &proxy, |v| {
        v.disable_keep_alives = vec!["caching".into()]
    });

    // login + 3 reads, at least, each on a new connection
    assert!(
        no_keep_alives >= 4,
        "{no_keep_alives} connections without keep-alives"
    );
    assert!(no_idle >= 4, "{no_idle} connections without idle connections");
    assert!(pooled < no_keep_alives, "pooled {pooled} vs {no_keep_alives}");
    assert!(
        cache_only < no_keep_alives,
        "caching only {cache_only} vs {no_keep_alives}"
    );
}
