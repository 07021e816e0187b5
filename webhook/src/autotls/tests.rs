use super::*;

const DAY: Duration = Duration::from_secs(86_400);

fn hosts() -> Hosts {
    Hosts::parse("ferrovault,ferrovault.vault,ferrovault.vault.svc,127.0.0.1").unwrap()
}

fn fresh() -> Material {
    execute(
        &Stored::Missing,
        &Action::Create {
            reason: String::new(),
        },
        &hosts(),
        3650 * DAY,
        90 * DAY,
        None,
        SystemTime::now(),
    )
    .unwrap()
}

fn data(m: &Material) -> BTreeMap<String, ByteString> {
    m.secret_data()
}

fn later(d: Duration) -> SystemTime {
    SystemTime::now() + d
}

#[test]
fn missing_secret_creates() {
    assert!(matches!(
        decide(&Stored::Missing, &hosts(), SystemTime::now()),
        Action::Create { .. }
    ));
}

#[test]
fn fresh_material_is_kept_and_round_trips_through_the_secret() {
    crate::tls::install_crypto_provider();
    let m = fresh();
    let stored = read_secret(Some(&data(&m)));
    assert_eq!(stored, Stored::Usable(m.clone()));
    assert_eq!(decide(&stored, &hosts(), SystemTime::now()), Action::Keep);
    // still fine after 59 days of 90
    assert_eq!(decide(&stored, &hosts(), later(59 * DAY)), Action::Keep);
    let kept = execute(
        &stored,
        &Action::Keep,
        &hosts(),
        3650 * DAY,
        90 * DAY,
        None,
        SystemTime::now(),
    )
    .unwrap();
    assert_eq!(kept, m);
}

#[test]
fn leaf_with_less_than_a_third_left_is_renewed_from_the_same_ca() {
    crate::tls::install_crypto_provider();
    let m = fresh();
    let stored = read_secret(Some(&data(&m)));
    let action = decide(&stored, &hosts(), later(61 * DAY));
    assert!(matches!(action, Action::RenewLeaf { .. }), "{action:?}");
    let renewed = execute(
        &stored,
        &action,
        &hosts(),
        3650 * DAY,
        90 * DAY,
        None,
        SystemTime::now(),
    )
    .unwrap();
    assert_eq!(renewed.ca, m.ca);
    assert_ne!(renewed.leaf, m.leaf);
    assert_eq!(renewed.previous_ca, None);
    assert_eq!(
        decide(&Stored::Usable(renewed), &hosts(), SystemTime::now()),
        Action::Keep
    );
}

#[test]
fn expired_leaf_missing_leaf_or_other_hosts_renew_the_leaf() {
    crate::tls::install_crypto_provider();
    let m = fresh();
    let stored = Stored::Usable(m.clone());
    assert!(matches!(
        decide(&stored, &hosts(), later(91 * DAY)),
        Action::RenewLeaf { .. }
    ));
    let no_leaf = Stored::Usable(Material {
        leaf: None,
        ..m.clone()
    });
    assert!(matches!(
        decide(&no_leaf, &hosts(), SystemTime::now()),
        Action::RenewLeaf { .. }
    ));
    let other = Hosts::parse("other.svc").unwrap();
    let Action::RenewLeaf { reason } = decide(&stored, &other, SystemTime::now()) else {
        panic!()
    };
    assert!(reason.contains("not the configured hosts"), "{reason}");
}

#[test]
fn leaf_from_another_ca_or_with_a_foreign_key_is_renewed() {
    crate::tls::install_crypto_provider();
    let a = fresh();
    let b = fresh();
    let mixed = Stored::Usable(Material {
        leaf: b.leaf.clone(),
        ..a.clone()
    });
    let Action::RenewLeaf { reason } = decide(&mixed, &hosts(), SystemTime::now()) else {
        panic!()
    };
    assert!(reason.contains("does not verify"), "{reason}");
    let wrong_key = Leaf {
        cert_pem: a.leaf.clone().unwrap().cert_pem,
        key_pem: b.leaf.clone().unwrap().key_pem,
    };
    let stored = Stored::Usable(Material {
        leaf: Some(wrong_key),
        ..a.clone()
    });
    let Action::RenewLeaf { reason } = decide(&stored, &hosts(), SystemTime::now()) else {
        panic!()
    };
    assert!(!reason.contains("PRIVATE KEY"), "{reason}");
}

#[test]
fn ca_near_its_end_rolls_over_with_the_old_ca_first_in_the_bundle() {
    crate::tls::install_crypto_provider();
    let m = fresh();
    let stored = Stored::Usable(m.clone());
    // 10 years: a third left after ~6.67 years
    let action = decide(&stored, &hosts(), later(2500 * DAY));
    assert!(matches!(action, Action::RotateCa { .. }), "{action:?}");
    let rolled = execute(
        &stored,
        &action,
        &hosts(),
        3650 * DAY,
        90 * DAY,
        None,
        SystemTime::now(),
    )
    .unwrap();
    assert_ne!(rolled.ca, m.ca);
    assert_eq!(rolled.previous_ca.as_deref(), Some(m.ca.cert_pem.as_str()));
    let pems: Vec<_> = CertificateDer::pem_slice_iter(rolled.bundle().as_bytes())
        .map(|c| to_pem(&c.unwrap()))
        .collect();
    assert_eq!(
        pems,
        [
            to_pem(&parse_pem(&m.ca.cert_pem).unwrap()),
            to_pem(&parse_pem(&rolled.ca.cert_pem).unwrap())
        ]
    );
    // the rolled material is stable, and survives the Secret
    let again = read_secret(Some(&rolled.secret_data()));
    assert_eq!(again, Stored::Usable(rolled.clone()));
    assert_eq!(decide(&again, &hosts(), SystemTime::now()), Action::Keep);
    // the next leaf renewal drops the previous CA
    let renewed = execute(
        &again,
        &Action::RenewLeaf {
            reason: String::new(),
        },
        &hosts(),
        3650 * DAY,
        90 * DAY,
        None,
        SystemTime::now(),
    )
    .unwrap();
    assert_eq!(renewed.previous_ca, None);
    assert_eq!(renewed.bundle(), bundle(None, &renewed.ca.cert_pem));
}

#[test]
fn short_lifetimes_count_from_issue_not_from_the_backdated_not_before() {
    crate::tls::install_crypto_provider();
    let now = SystemTime::now();
    let m = execute(
        &Stored::Missing,
        &Action::Create {
            reason: String::new(),
        },
        &hosts(),
        Duration::from_secs(120),
        Duration::from_secs(30),
        None,
        now,
    )
    .unwrap();
    let stored = Stored::Usable(m);
    assert_eq!(decide(&stored, &hosts(), now), Action::Keep);
    assert!(matches!(
        decide(&stored, &hosts(), now + Duration::from_secs(21)),
        Action::RenewLeaf { .. }
    ));
    assert!(matches!(
        decide(&stored, &hosts(), now + Duration::from_secs(81)),
        Action::RotateCa { .. }
    ));
}

#[test]
fn expired_previous_ca_is_dropped() {
    crate::tls::install_crypto_provider();
    let old = ferrovault_certs::generate_ca("old", DAY).unwrap();
    let m = Material {
        previous_ca: Some(old.cert_pem),
        ..fresh()
    };
    let stored = Stored::Usable(m);
    assert_eq!(decide(&stored, &hosts(), SystemTime::now()), Action::Keep);
    assert_eq!(decide(&stored, &hosts(), later(2 * DAY)), Action::DropPreviousCa);
    let garbage = Stored::Usable(Material {
        previous_ca: Some("junk".into()),
        ..fresh()
    });
    assert_eq!(
        decide(&garbage, &hosts(), SystemTime::now()),
        Action::DropPreviousCa
    );
}

#[test]
fn garbage_secret_is_regenerated_without_quoting_it() {
    crate::tls::install_crypto_provider();
    let secret_value =
        "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END PRIVATE KEY-----\n";
    let cases: Vec<BTreeMap<String, ByteString>> = vec![
        BTreeMap::new(),
        BTreeMap::from([
            (CA_CERT.to_owned(), ByteString(b"junk".to_vec())),
            (CA_KEY.to_owned(), ByteString(secret_value.as_bytes().to_vec())),
        ]),
        BTreeMap::from([
            (CA_CERT.to_owned(), ByteString(vec![0xff, 0xfe])),
            (CA_KEY.to_owned(), ByteString(vec![0])),
        ]),
        {
            // a leaf certificate is not a CA
            let m = fresh();
            let leaf = m.leaf.unwrap();
            BTreeMap::from([
                (CA_CERT.to_owned(), ByteString(leaf.cert_pem.into_bytes())),
                (CA_KEY.to_owned(), ByteString(leaf.key_pem.into_bytes())),
            ])
        },
        {
            // a CA with someone else's key
            let (a, b) = (fresh(), fresh());
            BTreeMap::from([
                (CA_CERT.to_owned(), ByteString(a.ca.cert_pem.into_bytes())),
                (CA_KEY.to_owned(), ByteString(b.ca.key_pem.into_bytes())),
            ])
        },
    ];
    for data in cases {
        let stored = read_secret(Some(&data));
        let action = decide(&stored, &hosts(), SystemTime::now());
        let Action::Create { reason } = &action else {
            panic!("{action:?}")
        };
        assert!(
            !reason.contains("c2VjcmV0") && !reason.contains("PRIVATE"),
            "{reason}"
        );
        assert!(!format!("{stored:?}").contains("c2VjcmV0"));
        let m = execute(
            &stored,
            &action,
            &hosts(),
            3650 * DAY,
            90 * DAY,
            None,
            SystemTime::now(),
        )
        .unwrap();
        assert_eq!(
            decide(&Stored::Usable(m), &hosts(), SystemTime::now()),
            Action::Keep
        );
    }
}

#[test]
fn a_new_ca_keeps_the_one_the_webhook_trusts_today() {
    crate::tls::install_crypto_provider();
    let today = fresh();
    let hint = last_certificate(today.bundle().as_bytes()).unwrap();
    let m = execute(
        &Stored::Unusable("x".into()),
        &Action::Create {
            reason: String::new(),
        },
        &hosts(),
        3650 * DAY,
        90 * DAY,
        Some(&hint),
        SystemTime::now(),
    )
    .unwrap();
    assert_eq!(m.previous_ca.as_deref(), Some(hint.as_str()));
    // an expired or unparsable hint is ignored
    let m = execute(
        &Stored::Missing,
        &Action::Create {
            reason: String::new(),
        },
        &hosts(),
        3650 * DAY,
        90 * DAY,
        Some("junk"),
        SystemTime::now(),
    )
    .unwrap();
    assert_eq!(m.previous_ca, None);
}

#[test]
fn bundle_orders_previous_first_and_deduplicates() {
    let a = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----";
    let b = "-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n";
    assert_eq!(bundle(None, b), b);
    assert_eq!(bundle(Some(a), b), format!("{a}\n{b}"));
    assert_eq!(bundle(Some(b), b), b);
    assert_eq!(bundle(Some(""), b), b);
}

#[test]
fn last_certificate_of_a_bundle() {
    let (a, b) = (fresh(), fresh());
    let both = bundle(Some(&a.ca.cert_pem), &b.ca.cert_pem);
    assert_eq!(
        last_certificate(both.as_bytes()).map(|p| p.trim().to_owned()),
        Some(b.ca.cert_pem.trim().to_owned())
    );
    assert_eq!(last_certificate(b"junk"), None);
}

fn webhook_config(bundles: &[Option<&str>]) -> MutatingWebhookConfiguration {
    let webhooks: Vec<serde_json::Value> = bundles
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let mut client = json!({"service": {"name": "svc", "namespace": "ns"}});
            if let Some(b) = b {
                client["caBundle"] = json!(ferrovault_certs::ca_bundle(b));
            }
            json!({"name": format!("w{i}.ferrovault.io"), "clientConfig": client, "sideEffects": "None", "admissionReviewVersions": ["v1"]})
        })
        .collect();
    serde_json::from_value(json!({"metadata": {"name": "mwc"}, "webhooks": webhooks})).unwrap()
}

#[test]
fn ca_bundle_patch_sets_every_entry_that_differs() {
    let pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    let mwc = webhook_config(&[None, Some(pem), Some("old")]);
    let patch = ca_bundle_patch(&mwc, pem).unwrap();
    let value = serde_json::to_value(&patch).unwrap();
    let b64 = ferrovault_certs::ca_bundle(pem);
    assert_eq!(
        value,
        json!([
            {"op": "test", "path": "/webhooks/0/name", "value": "w0.ferrovault.io"},
            {"op": "add", "path": "/webhooks/0/clientConfig/caBundle", "value": b64},
            {"op": "test", "path": "/webhooks/2/name", "value": "w2.ferrovault.io"},
            {"op": "add", "path": "/webhooks/2/clientConfig/caBundle", "value": b64},
        ])
    );
    // applied, the configuration needs no further patch
    let mut doc = serde_json::to_value(&mwc).unwrap();
    json_patch::patch(&mut doc, &patch).unwrap();
    let patched: MutatingWebhookConfiguration = serde_json::from_value(doc).unwrap();
    assert!(ca_bundle_patch(&patched, pem).is_none());
    assert!(ca_bundle_patch(&webhook_config(&[]), pem).is_none());
}

#[test]
fn hosts_parse_dns_and_ips_and_reject_bad_names() {
    let h = Hosts::parse(" svc, svc.ns.svc ,10.0.0.1,[::1],").unwrap();
    assert_eq!(h.dns, ["svc", "svc.ns.svc"]);
    assert_eq!(
        h.ips,
        ["10.0.0.1".parse::<IpAddr>().unwrap(), "::1".parse().unwrap()]
    );
    let e = Hosts::parse("svc,Bad_Name").unwrap_err().to_string();
    assert!(
        e.contains("--tls-auto-hosts") && e.contains("Bad_Name") && e.contains("accepted"),
        "{e}"
    );
    let e = Hosts::parse(" , ").unwrap_err().to_string();
    assert!(e.contains("--tls-auto-hosts"), "{e}");
}

#[test]
fn debug_output_never_shows_keys() {
    let m = fresh();
    let key_line = m.ca.key_pem.lines().nth(1).unwrap().to_owned();
    let leaf_key_line = m
        .leaf
        .as_ref()
        .unwrap()
        .key_pem
        .lines()
        .nth(1)
        .unwrap()
        .to_owned();
    for text in [format!("{m:?}"), format!("{:?}", Stored::Usable(m.clone()))] {
        assert!(
            !text.contains(&key_line) && !text.contains(&leaf_key_line),
            "key leaked in Debug"
        );
        assert!(!text.contains("PRIVATE KEY"));
    }
}

/// Log lines written while `f` runs.
fn captured(f: impl FnOnce()) -> String {
    #[derive(Clone, Default)]
    struct Buf(Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    String::from_utf8(buf.0.lock().unwrap().clone()).unwrap()
}

#[test]
fn loading_pairs_never_logs_key_material() {
    crate::tls::install_crypto_provider();
    let (a, b) = (fresh(), fresh());
    let (la, lb) = (a.leaf.clone().unwrap(), b.leaf.clone().unwrap());
    let store = CertStore::default();
    let mut loaded = None;
    let logs = captured(|| {
        // a mismatched pair is refused, a good one loaded once
        load(&store, &mut loaded, (la.cert_pem.clone(), lb.key_pem.clone()));
        load(&store, &mut loaded, (la.cert_pem.clone(), la.key_pem.clone()));
        load(&store, &mut loaded, (la.cert_pem.clone(), la.key_pem.clone()));
        let stored = read_secret(Some(&a.secret_data()));
        let action = decide(
            &Stored::Usable(Material {
                leaf: b.leaf.clone(),
                ..a.clone()
            }),
            &hosts(),
            SystemTime::now(),
        );
        tracing::info!(action = ?action, stored = ?stored, "decision");
    });
    assert!(store.is_ready());
    assert_eq!(logs.matches("serving certificate loaded").count(), 1, "{logs}");
    assert!(logs.contains("unusable"), "{logs}");
    for key in [&la.key_pem, &lb.key_pem, &a.ca.key_pem] {
        for line in key.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!logs.contains(line), "key material in the logs");
        }
    }
    assert!(!logs.contains("PRIVATE KEY"));
}

#[test]
fn decode_errors_are_described_without_the_body() {
    let err = serde_json::from_str::<Secret>(r#"{"data": {"tls.key": 12345678}, "s3cr3t": 1}"#)
        .map(|_| ())
        .unwrap_err();
    let text = describe(&kube::Error::SerdeError(err));
    assert!(!text.contains("12345678") && text.contains("line 1"), "{text}");
}

#[test]
fn backoff_doubles_up_to_its_cap_and_resets() {
    let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(5));
    let waits: Vec<_> = (0..5).map(|_| b.failed().as_secs()).collect();
    assert_eq!(waits, [1, 2, 4, 5, 5]);
    b.reset();
    assert_eq!(b.failed(), Duration::from_secs(1));
}

#[test]
fn config_validation_names_the_flags() {
    let mut c = AutoTlsConfig {
        webhook_config: "mwc".into(),
        hosts: hosts(),
        namespace: "ns".into(),
        secret: "s".into(),
        lease: "l".into(),
        identity: "pod-0".into(),
        ca_validity: 3650 * DAY,
        leaf_validity: 90 * DAY,
        check_interval: Duration::from_secs(60),
        lease_duration: Duration::from_secs(15),
        renew_interval: Duration::from_secs(5),
    };
    c.validate().unwrap();
    c.leaf_validity = Duration::from_secs(120);
    assert!(
        c.validate()
            .unwrap_err()
            .to_string()
            .contains("--tls-auto-leaf-validity")
    );
    c.leaf_validity = 90 * DAY;
    c.identity = String::new();
    assert!(c.validate().unwrap_err().to_string().contains("--pod-name"));
}

#[test]
fn only_secrets_carrying_the_owner_label_count_as_ours() {
    let with = |labels: &[(&str, &str)]| ObjectMeta {
        labels: Some(
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        ..ObjectMeta::default()
    };
    assert!(owned(&with(&[(
        "app.kubernetes.io/managed-by",
        "ferrovault-webhook"
    )])));
    // a user's Secret (vault-helm's user-managed certs.secretName), a Helm-made one, none at all
    assert!(!owned(&ObjectMeta::default()));
    assert!(!owned(&with(&[("app.kubernetes.io/managed-by", "Helm")])));
    assert!(!owned(&with(&[("managed-by", "ferrovault-webhook")])));
}
