//! The listener stanzas of a Vault Agent config file: `listener "tcp"`, `cache`, `api_proxy`,
//! `telemetry` (issue #12 §2–§4), on the contract's types.

use super::map::{R, block_type, boolean, duration, err, not_supported, object, string, unknown};
use super::tree::Node;
use crate::{Cache, CachePersist, Listener, Telemetry, UseAutoAuthToken};

pub(super) fn listener(labels: &[String], node: &Node) -> R<Listener> {
    const KEYS: &[&str] = &[
        "type",
        "address",
        "tls_disable",
        "role",
        "agent_api",
        "ferrovault_allow_non_loopback",
        "ferrovault_non_loopback_auto_auth_token",
        "ferrovault_non_loopback_quit",
    ];
    let b = "listener";
    let kind = block_type(labels, node, b)?;
    if kind != "tcp" {
        return Err(err(
            node.line,
            b,
            format!("listener type {kind:?} is not supported (supported: tcp)"),
        ));
    }
    let mut l = Listener::default();
    let mut tls_disable = false;
    for e in object(node, b)? {
        let n = &e.node;
        match e.key.as_str() {
            "type" => {}
            "address" => l.address = string(n, b)?,
            "tls_disable" => tls_disable = boolean(n, b)?,
            "role" => match string(n, b)?.as_str() {
                "default" => {}
                "metrics_only" => l.metrics_only = true,
                other => {
                    return Err(err(
                        n.line,
                        b,
                        format!("role {other:?} is not default or metrics_only"),
                    ));
                }
            },
            "agent_api" => {
                for a in object(n, "listener.agent_api")? {
                    match a.key.as_str() {
                        "enable_quit" => l.enable_quit = boolean(&a.node, "listener.agent_api")?,
                        _ => return Err(unknown(a, "listener.agent_api", &["enable_quit"])),
                    }
                }
            }
            // ferrovault's own keys (Vault Agent has none of them): the opt-in for a listener reachable
            // from outside the pod, and for what it may serve there
            "ferrovault_allow_non_loopback" => l.allow_non_loopback = boolean(n, b)?,
            "ferrovault_non_loopback_auto_auth_token" => l.non_loopback_auto_auth_token = boolean(n, b)?,
            "ferrovault_non_loopback_quit" => l.non_loopback_quit = boolean(n, b)?,
            "tls_cert_file" | "tls_key_file" | "tls_min_version" | "tls_client_ca_file" => {
                return Err(not_supported(
                    e,
                    b,
                    "TLS listeners (the listener serves the pod's loopback)",
                ));
            }
            _ => return Err(unknown(e, b, KEYS)),
        }
    }
    if l.address.is_empty() {
        l.address = "127.0.0.1:8200".to_owned();
    }
    // the address parsed, and the non-loopback rule (the agent checks again with the pod's hostNetwork)
    l.check(false).map_err(|m| err(node.line, b, m))?;
    if !tls_disable {
        return Err(err(
            node.line,
            b,
            "set tls_disable = true: ferrovault-agent's listener is plain HTTP on the pod's loopback (as \
             vault-k8s writes it)",
        ));
    }
    Ok(l)
}

fn auto_auth_token(node: &Node, block: &str) -> R<UseAutoAuthToken> {
    let text = string(node, block)?;
    UseAutoAuthToken::parse(&text)
        .ok_or_else(|| err(node.line, block, format!("{text:?} is not true, false or force")))
}

pub(super) fn cache(node: &Node) -> R<Cache> {
    let b = "cache";
    let mut c = Cache::default();
    for e in object(node, b)? {
        match e.key.as_str() {
            "use_auto_auth_token" => c.use_auto_auth_token = auto_auth_token(&e.node, b)?,
            "persist" => {
                let p = "cache.persist";
                let mut persist = CachePersist::default();
                for x in object(&e.node, p)? {
                    match x.key.as_str() {
                        "type" => {}
                        "path" => persist.path = string(&x.node, p)?,
                        "exit_on_err" => persist.exit_on_err = boolean(&x.node, p)?,
                        "keep_after_import" | "service_account_token_file" => {
                            string(&x.node, p)?;
                        }
                        _ => {
                            return Err(unknown(
                                x,
                                p,
                                &["type", "path", "exit_on_err", "keep_after_import"],
                            ));
                        }
                    }
                }
                c.persist = Some(persist);
            }
            _ => return Err(unknown(e, b, &["use_auto_auth_token", "persist"])),
        }
    }
    Ok(c)
}

pub(super) fn api_proxy(node: &Node) -> R<(usize, Option<UseAutoAuthToken>)> {
    let b = "api_proxy";
    let mut token = None;
    for e in object(node, b)? {
        match e.key.as_str() {
            "use_auto_auth_token" => token = Some(auto_auth_token(&e.node, b)?),
            "enforce_consistency" | "when_inconsistent" => {
                return Err(not_supported(e, b, "Vault Enterprise's consistency headers"));
            }
            _ => return Err(unknown(e, b, &["use_auto_auth_token"])),
        }
    }
    Ok((node.line, token))
}

pub(super) fn telemetry(node: &Node) -> R<Telemetry> {
    let b = "telemetry";
    let mut t = Telemetry::default();
    for e in object(node, b)? {
        match e.key.as_str() {
            "prometheus_retention_time" => t.prometheus_retention_time = Some(duration(&e.node, b)?),
            // a name only Vault's go-metrics sinks use; the agent's Prometheus names carry no hostname
            "disable_hostname" => {
                boolean(&e.node, b)?;
            }
            _ => {
                return Err(not_supported(
                    e,
                    b,
                    "the agent serves Prometheus metrics at /agent/v1/metrics only (keys: \
                     prometheus_retention_time, disable_hostname)",
                ));
            }
        }
    }
    Ok(t)
}
