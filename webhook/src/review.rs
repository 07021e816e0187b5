//! AdmissionReview in, AdmissionReview out. Pure: the server and the `inject` CLI both call [`review`].

use std::borrow::Cow;

use k8s_openapi::api::core::v1::Pod;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};

use crate::error::Error;
use crate::inject::{Decision, InjectionType, InjectorDefaults, decide};

/// What happened to one request, for metrics and logs (never carries values).
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Not a Pod CREATE, or a pod that asked for nothing: allowed untouched.
    Ignored {
        /// Why.
        reason: &'static str,
    },
    /// Denied; the message went to `status.message`.
    Denied,
    /// Allowed with a patch.
    Injected(InjectionType),
}

/// The answer to one AdmissionReview.
#[derive(Debug)]
pub struct Reviewed {
    /// The response review to send back.
    pub response: AdmissionReview<DynamicObject>,
    /// What happened.
    pub outcome: Outcome,
    /// The request's namespace when it is a valid one (a DNS-1123 label), else `invalid`: a metric
    /// label and log field, so bounded whatever the request says.
    pub namespace: String,
    /// The deny message, when denied.
    pub denial: Option<String>,
}

impl Reviewed {
    /// The response review as JSON bytes, with `response.patch` base64-encoded as the API server
    /// documents it (`[]byte` in Go; kube-core would serialise it as an array of numbers). Written in
    /// one pass: no JSON tree of the answer, no number per patch byte.
    pub fn response_bytes(&self) -> Vec<u8> {
        let patch_len = self
            .response
            .response
            .as_ref()
            .and_then(|r| r.patch.as_ref())
            .map_or(0, Vec::len);
        let mut out = Vec::with_capacity(patch_len / 3 * 4 + 1024);
        match serde_json::to_writer(&mut out, &self.wire()) {
            Ok(()) => out,
            Err(_) => Vec::new(),
        }
    }

    /// [`Reviewed::response_bytes`] as a JSON value (for the CLI and tests).
    pub fn response_json(&self) -> serde_json::Value {
        serde_json::to_value(self.wire()).unwrap_or_default()
    }

    fn wire(&self) -> WireReview<'_> {
        let review = &self.response;
        WireReview {
            api_version: &review.types.api_version,
            kind: &review.types.kind,
            response: review.response.as_ref().map(|r| WireResponse {
                uid: &r.uid,
                allowed: r.allowed,
                status: &r.result,
                patch: r.patch.as_deref().map(base64_string),
                patch_type: r.patch.as_ref().map(|_| "JSONPatch"),
                audit_annotations: &r.audit_annotations,
                warnings: r.warnings.as_ref(),
            }),
        }
    }
}

/// `bytes` in standard base64 as a JSON string, written as it is: base64 needs no escaping, so the
/// serialiser does not scan the (patch-sized) text again.
fn base64_string(bytes: &[u8]) -> Box<serde_json::value::RawValue> {
    use base64::Engine as _;
    let mut text = String::with_capacity(bytes.len().div_ceil(3) * 4 + 2);
    text.push('"');
    base64::engine::general_purpose::STANDARD.encode_string(bytes, &mut text);
    text.push('"');
    serde_json::value::RawValue::from_string(text).expect("a base64 string is valid JSON")
}

/// The answer as the API server reads it (field names and omissions as kube-core's types).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct WireReview<'a> {
    api_version: &'a str,
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    response: Option<WireResponse<'a>>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct WireResponse<'a> {
    uid: &'a str,
    allowed: bool,
    status: &'a kube::core::Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch: Option<Box<serde_json::value::RawValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch_type: Option<&'static str>,
    #[serde(skip_serializing_if = "std::collections::HashMap::is_empty")]
    audit_annotations: &'a std::collections::HashMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    warnings: Option<&'a Vec<String>>,
}

/// Largest patch answered: etcd refuses objects over 1.5 MiB by default, so a pod that grows more
/// than this could never be stored.
pub const MAX_PATCH_BYTES: usize = 1536 * 1024;

/// The AdmissionReview versions served, as vault-k8s does: v1beta1 has the same shape, and the answer
/// carries the request's version.
pub const API_VERSIONS: [&str; 2] = ["admission.k8s.io/v1", "admission.k8s.io/v1beta1"];

/// Answers an `admission.k8s.io/v1` AdmissionReview body.
///
/// A body that is not a valid AdmissionReview is an [`Error::BadRequest`] (HTTP 400). Anything but a
/// Pod CREATE is allowed untouched.
pub fn review(body: &[u8], defaults: &InjectorDefaults) -> Result<Reviewed, Error> {
    // Fast path: a pod review parses straight into typed structures (no JSON tree, no conversions).
    if let Ok(review) = serde_json::from_slice::<AdmissionReview<Pod>>(body) {
        check_envelope(&review.types)?;
        let request: AdmissionRequest<Pod> = review
            .try_into()
            .map_err(|_| Error::BadRequest("AdmissionReview has no request".to_owned()))?;
        return Ok(respond(&request, typed_pod, defaults));
    }
    // Anything else (another resource, an object that is no valid Pod): the generic path says why.
    let review: AdmissionReview<DynamicObject> = serde_json::from_slice(body).map_err(|e| {
        Error::BadRequest(format!(
            "body is not an AdmissionReview: {}",
            describe_json_error(&e)
        ))
    })?;
    check_envelope(&review.types)?;
    let request: AdmissionRequest<DynamicObject> = review
        .try_into()
        .map_err(|_| Error::BadRequest("AdmissionReview has no request".to_owned()))?;
    Ok(answer(&request, defaults))
}

fn check_envelope(types: &kube::core::TypeMeta) -> Result<(), Error> {
    if !API_VERSIONS.contains(&types.api_version.as_str()) || types.kind != "AdmissionReview" {
        // Not echoed: the values are the client's and may be huge.
        return Err(Error::BadRequest(
            "expected apiVersion admission.k8s.io/v1 (or v1beta1) and kind AdmissionReview".to_owned(),
        ));
    }
    Ok(())
}

/// Answers one request.
pub fn answer(request: &AdmissionRequest<DynamicObject>, defaults: &InjectorDefaults) -> Reviewed {
    respond(request, dynamic_pod, defaults)
}

fn typed_pod(pod: &Pod) -> Result<Cow<'_, Pod>, String> {
    Ok(Cow::Borrowed(pod))
}

fn dynamic_pod(object: &DynamicObject) -> Result<Cow<'_, Pod>, String> {
    serde_json::to_value(object)
        .and_then(serde_json::from_value)
        .map(Cow::Owned)
        .map_err(|e| describe_json_error(&e))
}

/// Answers one request whose object `pod_of` turns into a Pod (typed already, or converted).
fn respond<T: kube::Resource>(
    request: &AdmissionRequest<T>,
    pod_of: fn(&T) -> Result<Cow<'_, Pod>, String>,
    defaults: &InjectorDefaults,
) -> Reviewed {
    let namespace = request.namespace.clone().unwrap_or_default();
    let label = if is_dns1123_label(&namespace) {
        namespace.as_str()
    } else {
        "invalid"
    };
    let reviewed = |response: AdmissionResponse, outcome, denial| Reviewed {
        response: response.into_review(),
        outcome,
        namespace: label.to_owned(),
        denial,
    };
    let ignored = |reason| {
        reviewed(
            AdmissionResponse::from(request),
            Outcome::Ignored { reason },
            None,
        )
    };
    let denied = |message: String| {
        reviewed(
            AdmissionResponse::from(request).deny(&message),
            Outcome::Denied,
            Some(message),
        )
    };
    if !request.resource.group.is_empty()
        || request.resource.resource != "pods"
        || request.sub_resource.is_some()
    {
        return ignored("not a pod");
    }
    if request.operation != Operation::Create {
        return ignored("not a CREATE");
    }
    let Some(object) = &request.object else {
        return ignored("no object");
    };
    let pod = match pod_of(object) {
        Ok(pod) => pod,
        Err(why) => return denied(format!("request object is not a valid Pod: {why}")),
    };
    match decide(&namespace, &pod, defaults) {
        Decision::Skip { reason } => ignored(reason),
        Decision::Deny { message } => denied(message),
        Decision::Patch {
            patch,
            warnings,
            audit,
            injection,
        } => {
            let patch = patch.to_bytes();
            if patch.len() > MAX_PATCH_BYTES {
                return denied(format!(
                    "the injection would add {} bytes to the pod, more than the {MAX_PATCH_BYTES} \
                     bytes etcd stores in one object by default: use fewer secrets or containers",
                    patch.len()
                ));
            }
            // kube-core sets the (private) patch type only in `with_patch`, which serialises a
            // `json_patch::Patch`: give it an empty one, then the bytes serialised once already.
            let Ok(mut response) = AdmissionResponse::from(request).with_patch(json_patch::Patch(Vec::new()))
            else {
                return denied("internal error: the patch could not be serialised".to_owned());
            };
            response.patch = Some(patch);
            if !warnings.is_empty() {
                response.warnings = Some(warnings);
            }
            response.audit_annotations = audit.into_iter().collect();
            reviewed(response, Outcome::Injected(injection), None)
        }
    }
}

/// The RFC 6902 patch of an answer, if it has one.
pub fn patch_of(reviewed: &Reviewed) -> Option<json_patch::Patch> {
    let bytes = reviewed.response.response.as_ref()?.patch.as_ref()?;
    serde_json::from_slice(bytes).ok()
}

/// A JSON error's category and position, without echoing any of the input (it may hold secrets).
pub fn describe_json_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Io => "I/O error",
        Category::Syntax => "invalid JSON",
        Category::Data => "unexpected structure",
        Category::Eof => "unexpected end of input",
    };
    format!("{what} at line {}, column {}", e.line(), e.column())
}

/// A Kubernetes namespace name: a DNS-1123 label (lower-case alphanumerics and `-`, at most 63,
/// starting and ending with an alphanumeric).
pub fn is_dns1123_label(s: &str) -> bool {
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = s.as_bytes();
    matches!((bytes.first(), bytes.last()), (Some(f), Some(l)) if alnum(f) && alnum(l))
        && bytes.len() <= 63
        && bytes.iter().all(|b| alnum(b) || *b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// kube-core's own serialisation of the answer, with the patch's number array made base64.
    fn through_kube_core(reviewed: &Reviewed) -> serde_json::Value {
        use base64::Engine as _;
        let mut value = serde_json::to_value(&reviewed.response).unwrap();
        if let Some(patch) = value.pointer_mut("/response/patch") {
            let bytes: Vec<u8> = patch
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b.as_u64().unwrap() as u8)
                .collect();
            *patch = serde_json::Value::String(base64::engine::general_purpose::STANDARD.encode(bytes));
        }
        value
    }

    #[test]
    fn the_wire_answer_is_kube_cores_with_a_base64_patch() {
        let pod: serde_json::Value = serde_yaml::from_str(include_str!("../testdata/seed-pod.yaml")).unwrap();
        let defaults = InjectorDefaults {
            vault_address: "https://vault:8200".into(),
            ..Default::default()
        };
        for (api_version, role) in [
            ("admission.k8s.io/v1", "internal-app"),
            ("admission.k8s.io/v1beta1", "internal-app"),
            ("admission.k8s.io/v1", ""),
        ] {
            let mut pod = pod.clone();
            pod["metadata"]["annotations"]["vault.hashicorp.com/role"] = role.into();
            let body = serde_json::json!({
                "apiVersion": api_version, "kind": "AdmissionReview",
                "request": {"uid": "u", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                    "resource": {"group": "", "version": "v1", "resource": "pods"},
                    "namespace": "default", "operation": "CREATE", "userInfo": {}, "object": pod}
            });
            let reviewed = review(&serde_json::to_vec(&body).unwrap(), &defaults).unwrap();
            assert_eq!(
                reviewed.response_json(),
                through_kube_core(&reviewed),
                "{api_version} {role:?}"
            );
            let bytes: serde_json::Value = serde_json::from_slice(&reviewed.response_bytes()).unwrap();
            assert_eq!(bytes, reviewed.response_json());
        }
    }
}
