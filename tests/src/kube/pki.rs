//! The control plane's certificates and kubeconfig, made with the `openssl` CLI.

use std::path::{Path, PathBuf};

use crate::{Error, Result, run};

/// Certificates and keys of the control plane, made with the `openssl` CLI.
pub(super) struct Pki {
    pub(super) ca_cert: PathBuf,
    pub(super) ca_key: PathBuf,
    pub(super) serving_cert: PathBuf,
    pub(super) serving_key: PathBuf,
    pub(super) sa_key: PathBuf,
    pub(super) sa_pub: PathBuf,
    pub(super) admin_cert: PathBuf,
    pub(super) admin_key: PathBuf,
}

impl Pki {
    /// `ips`: extra IP SANs of the API server's serving certificate (beside 127.0.0.1).
    pub(super) fn create(base: &Path, ips: &[String]) -> Result<Self> {
        let dir = base.join("pki");
        std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
            what: format!("create {}", dir.display()),
            source,
        })?;
        let f = |name: &str| dir.join(name);
        let pki = Self {
            ca_cert: f("ca.crt"),
            ca_key: f("ca.key"),
            serving_cert: f("apiserver.crt"),
            serving_key: f("apiserver.key"),
            sa_key: f("sa.key"),
            sa_pub: f("sa.pub"),
            admin_cert: f("admin.crt"),
            admin_key: f("admin.key"),
        };
        let s = |p: &Path| p.display().to_string();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let mut ca = vec!["req", "-x509"];
        ca.extend(ec);
        let (ca_key, ca_cert) = (s(&pki.ca_key), s(&pki.ca_cert));
        ca.extend([
            "-keyout",
            &ca_key,
            "-out",
            &ca_cert,
            "-days",
            "2",
            "-subj",
            "/CN=ferrovault-e2e-ca",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
        ]);
        openssl(&ca)?;
        let extra_ips: String = ips
            .iter()
            .filter(|ip| ip.as_str() != "127.0.0.1")
            .map(|ip| format!(",IP:{ip}"))
            .collect();
        pki.leaf(
            &dir,
            "apiserver",
            "/CN=kube-apiserver",
            &format!(
                "subjectAltName=IP:127.0.0.1{extra_ips},DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,\
                 DNS:kubernetes.default.svc\n\
                 extendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
            ),
        )?;
        pki.leaf(
            &dir,
            "admin",
            "/O=system:masters/CN=ferrovault-e2e-admin",
            "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n",
        )?;
        openssl(&["genrsa", "-out", &s(&pki.sa_key), "2048"])?;
        openssl(&["rsa", "-in", &s(&pki.sa_key), "-pubout", "-out", &s(&pki.sa_pub)])?;
        Ok(pki)
    }

    /// `<name>.key` + `<name>.crt` signed by the CA with the extensions in `ext`.
    pub(super) fn leaf(&self, dir: &Path, name: &str, subject: &str, ext: &str) -> Result<()> {
        let key = dir.join(format!("{name}.key")).display().to_string();
        let csr = dir.join(format!("{name}.csr")).display().to_string();
        let crt = dir.join(format!("{name}.crt")).display().to_string();
        let ext_path = dir.join(format!("{name}.ext"));
        std::fs::write(&ext_path, ext).map_err(|source| Error::Io {
            what: format!("write {}", ext_path.display()),
            source,
        })?;
        openssl(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            subject,
        ])?;
        openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &self.ca_cert.display().to_string(),
            "-CAkey",
            &self.ca_key.display().to_string(),
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            &crt,
            "-extfile",
            &ext_path.display().to_string(),
        ])
        .map(drop)
    }
}

pub(super) fn write_kubeconfig(path: &Path, server: &str, pki: &Pki) -> Result<()> {
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: e2e\n  cluster:\n    server: {server}\n    \
         certificate-authority: {ca}\nusers:\n- name: admin\n  user:\n    client-certificate: {cert}\n    \
         client-key: {key}\ncontexts:\n- name: e2e\n  context:\n    cluster: e2e\n    user: admin\n\
         current-context: e2e\n",
        ca = pki.ca_cert.display(),
        cert = pki.admin_cert.display(),
        key = pki.admin_key.display(),
    );
    std::fs::write(path, text).map_err(|source| Error::Io {
        what: format!("write {}", path.display()),
        source,
    })
}

fn openssl(args: &[&str]) -> Result<String> {
    run(
        Path::new("openssl"),
        &[("PATH".into(), std::env::var("PATH").unwrap_or_default())],
        args,
        None,
    )
}
