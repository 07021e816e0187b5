//! AdmissionReview in, AdmissionReview out. Pure: the server and the `inject` CLI both call [`review`].

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
    /// The response review as JSON, with `response.patch` base64-encoded as the API server documents
    /// it (`[]byte` in Go; kube-core serialises it as an array of numbers).
    pub fn response_json(&self) -> serde_json::Value {
        use base64::Engine as _;
        let mut value = serde_json::to_value(&self.response).unwrap_or_default();
        if let Some(patch) = value.pointer_mut("/response/patch")
            && let Some(bytes) = patch.as_array().map(|a| {
                a.iter()
                    .filter_map(|b| b.as_u64().map(|b| b as u8))
                    .collect::<Vec<u8>>()
            })
        {
            *patch = serde_json::Value::String(base64::engine::general_purpose::STANDARD.encode(bytes));
        }
        value
    }
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
    let review: AdmissionReview<DynamicObject> = serde_json::from_slice(body).map_err(|e| {
        Error::BadRequest(format!(
            "body is not an AdmissionReview: {}",
            describe_json_error(&e)
        ))
    })?;
    if !API_VERSIONS.contains(&review.types.api_version.as_str()) || review.types.kind != "AdmissionReview" {
        // Not echoed: the values are the client's and may be huge.
        return Err(Error::BadRequest(
            "expected apiVersion admission.k8s.io/v1 (or v1beta1) and kind AdmissionReview".to_owned(),
        ));
    }
    let request: AdmissionRequest<DynamicObject> = review
        .try_into()
        .map_err(|_| Error::BadRequest("AdmissionReview has no request".to_owned()))?;
    Ok(answer(&request, defaults))
}

/// Answers one request.
pub fn answer(request: &AdmissionRequest<DynamicObject>, defaults: &InjectorDefaults) -> Reviewed {
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
    let pod: Pod = match serde_json::to_value(object).and_then(serde_json::from_value) {
        Ok(pod) => pod,
        Err(e) => {
            return denied(format!(
                "request object is not a valid Pod: {}",
                describe_json_error(&e)
            ));
        }
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
            let Ok(mut response) = AdmissionResponse::from(request).with_patch(patch) else {
                return denied("internal error: the patch could not be serialised".to_owned());
            };
            let patch_bytes = response.patch.as_ref().map_or(0, Vec::len);
            if patch_bytes > MAX_PATCH_BYTES {
                return denied(format!(
                    "the injection would add {patch_bytes} bytes to the pod, more than the {MAX_PATCH_BYTES} \
                     bytes etcd stores in one object by default: use fewer secrets or containers"
                ));
            }
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
