//! The Kubernetes edge: reading and writing the Secret, patching the webhook configuration.

use super::*;

// --- Kubernetes edge ---

/// Describes a Kubernetes error without response bodies (a decode error could quote Secret data).
pub fn describe(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) => format!("HTTP {} {}: {}", status.code, status.reason, status.message),
        kube::Error::SerdeError(e) => format!(
            "the API server's response could not be decoded (line {}, column {})",
            e.line(),
            e.column()
        ),
        other => other.to_string(),
    }
}

pub(super) fn kube_error(action: &str) -> impl Fn(kube::Error) -> Error + '_ {
    move |e| Error::Kube(format!("{action}: {}", describe(&e)))
}

pub(super) fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.is_conflict() || s.is_already_exists())
}

/// Follower: the Secret's serving pair, if present. A Secret ferrovault did not create is refused
/// here too: the leader will not manage it, so serving it would pin a certificate nobody renews.
pub(super) async fn read_pair(secrets: &Api<Secret>, name: &str) -> Result<Option<(String, String)>, Error> {
    let secret = secrets
        .get_opt(name)
        .await
        .map_err(kube_error("read the auto-TLS Secret"))?;
    if let Some(s) = &secret {
        ensure_owned(s)?;
    }
    let Some(data) = secret.and_then(|s| s.data) else {
        return Ok(None);
    };
    let text = |k: &str| data.get(k).map(|v| String::from_utf8_lossy(&v.0).into_owned());
    Ok(text(TLS_CERT).zip(text(TLS_KEY)))
}

/// Leader: brings the Secret and the webhook configuration in line, returns the pair to serve.
pub(super) async fn reconcile(
    secrets: &Api<Secret>,
    configs: &Api<MutatingWebhookConfiguration>,
    config: &AutoTlsConfig,
) -> Result<Option<(String, String)>, Error> {
    let existing = secrets
        .get_opt(&config.secret)
        .await
        .map_err(kube_error("read the auto-TLS Secret"))?;
    if let Some(s) = &existing {
        ensure_owned(s)?;
    }
    let stored = read_secret(
        existing
            .as_ref()
            .map(|s| s.data.clone().unwrap_or_default())
            .as_ref(),
    );
    let now = SystemTime::now();
    let action = decide(&stored, &config.hosts, now);
    let webhook = configs
        .get(&config.webhook_config)
        .await
        .map_err(kube_error("read the MutatingWebhookConfiguration"))?;
    let hint = webhook
        .webhooks
        .iter()
        .flatten()
        .find_map(|w| w.client_config.ca_bundle.as_ref())
        .and_then(|b| last_certificate(&b.0));
    let material = execute(
        &stored,
        &action,
        &config.hosts,
        config.ca_validity,
        config.leaf_validity,
        hint.as_deref(),
        now,
    )?;
    if action != Action::Keep {
        tracing::info!(action = ?action, "auto TLS: updating the certificate Secret");
    }
    // The bundle goes out first: when a replica serves a leaf from a new CA, the API server trusts it.
    if let Some(patch) = ca_bundle_patch(&webhook, &material.bundle()) {
        configs
            .patch(
                &config.webhook_config,
                &PatchParams::default(),
                &Patch::Json::<()>(patch),
            )
            .await
            .map_err(kube_error("patch caBundle of the MutatingWebhookConfiguration"))?;
        tracing::info!(webhook_config = %config.webhook_config, "auto TLS: caBundle updated");
        // The API server picks webhook configurations up through an informer: give it a moment
        // before any replica serves a leaf that only the new bundle trusts.
        tokio::time::sleep(BUNDLE_PROPAGATION).await;
    }
    if action != Action::Keep {
        write_secret(secrets, config, existing, &material).await?;
    }
    Ok(material.leaf.map(|l| (l.cert_pem, l.key_pem)))
}

pub(super) async fn write_secret(
    secrets: &Api<Secret>,
    config: &AutoTlsConfig,
    existing: Option<Secret>,
    material: &Material,
) -> Result<(), Error> {
    match existing {
        Some(mut secret) => {
            // never a Secret we did not create (checked again here, next to the write); keep
            // labels, annotations, type and any foreign keys; resourceVersion guards the update
            ensure_owned(&secret)?;
            let mut data = secret.data.take().unwrap_or_default();
            data.remove(PREVIOUS_CA);
            data.extend(material.secret_data());
            secret.data = Some(data);
            secret.string_data = None;
            secrets
                .replace(&config.secret, &PostParams::default(), &secret)
                .await
                .map(|_| ())
                .map_err(|e| {
                    if is_conflict(&e) {
                        Error::Kube("the auto-TLS Secret changed meanwhile; will re-read it".into())
                    } else {
                        kube_error("update the auto-TLS Secret")(e)
                    }
                })
        }
        None => {
            let secret = Secret {
                metadata: ObjectMeta {
                    name: Some(config.secret.clone()),
                    namespace: Some(config.namespace.clone()),
                    labels: Some(BTreeMap::from([(
                        OWNER_LABEL.to_owned(),
                        FIELD_MANAGER.to_owned(),
                    )])),
                    ..ObjectMeta::default()
                },
                type_: Some("kubernetes.io/tls".into()),
                data: Some(material.secret_data()),
                ..Secret::default()
            };
            secrets
                .create(&PostParams::default(), &secret)
                .await
                .map(|_| ())
                .map_err(kube_error("create the auto-TLS Secret"))
        }
    }
}

/// Refuses a Secret that auto TLS did not create (see [`owned`]): overwriting a user's `tls.crt` and
/// `tls.key` (vault-helm's user-managed `certs.secretName`) would lose their data.
fn ensure_owned(secret: &Secret) -> Result<(), Error> {
    if owned(&secret.metadata) {
        return Ok(());
    }
    let name = secret.metadata.name.as_deref().unwrap_or_default();
    let namespace = secret.metadata.namespace.as_deref().unwrap_or_default();
    Err(Error::Kube(format!(
        "the Secret {namespace}/{name} exists but was not created by ferrovault-webhook (it lacks the \
         label {OWNER_LABEL}={FIELD_MANAGER}); auto TLS never writes or serves a Secret it did not \
         create. Use it as a user-managed certificate (chart: tls.mode=existingSecret with \
         certs.caBundle), or delete it, or give auto TLS another name (certs.secretName)"
    )))
}
