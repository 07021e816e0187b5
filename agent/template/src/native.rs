//! Native handlebars templates, rendered by the `handlebars` crate with the same data model and
//! functions as the Go dialect.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};

use handlebars::template::{Parameter, TemplateElement};
use handlebars::{
    Context, Handlebars, Helper, HelperDef, RenderContext, RenderError, RenderErrorReason, Renderable,
    ScopedJson, StringOutput, Template,
};
use serde_json::Value;

use crate::exec::dependency;
use crate::funcs::{self, Func};
use crate::value::{Val, print_val, sorted_deep};
use crate::{DataSource, Dependency, Rendered, TemplateError};

/// Name of the one template in the registry.
const NAME: &str = "template";

/// A render that keeps discovering dependencies stops after this many passes.
const MAX_PASSES: usize = 64;

/// A compiled native handlebars template.
pub(crate) struct Native {
    registry: Handlebars<'static>,
    static_deps: Vec<Dependency>,
    /// Literal names given to `env`, `mustEnv` and `envOrDefault`, per function.
    env_names: Vec<(Func, Vec<String>)>,
}

impl std::fmt::Debug for Native {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Native")
            .field("static_deps", &self.static_deps)
            .finish_non_exhaustive()
    }
}

/// Dependency data seen by the helpers of one render.
#[derive(Default)]
struct State {
    /// Fetched (`Some`) or known-missing (`None`) dependencies.
    cache: BTreeMap<Dependency, Option<Value>>,
    /// Dependencies asked for in this pass that are not in the cache yet.
    requested: BTreeSet<Dependency>,
}

impl Native {
    pub(crate) fn compile(text: &str) -> Result<Self, TemplateError> {
        let template = Template::compile(text).map_err(|e| {
            let (line, column) = e.pos().unwrap_or((1, 1));
            TemplateError {
                line,
                column,
                message: e.reason().to_string(),
            }
        })?;
        let mut static_deps = Vec::new();
        collect_deps(&template, &mut static_deps);
        let mut seen = BTreeSet::new();
        static_deps.retain(|d| seen.insert(d.clone()));

        let mut registry = Handlebars::new();
        // Go writes values as they are; handlebars would HTML-escape them.
        registry.register_escape_fn(handlebars::no_escape);
        registry.set_strict_mode(false);
        registry.set_prevent_indent(true);
        for (name, func) in funcs::all() {
            if !func.is_dependency() && !matches!(func, Func::Env | Func::MustEnv | Func::EnvOrDefault) {
                registry.register_helper(name, Box::new(PureHelper(func)));
            }
        }
        registry.register_helper("go_print", Box::new(GoPrint));
        let env_names = [Func::Env, Func::MustEnv, Func::EnvOrDefault]
            .into_iter()
            .map(|f| (f, env_names(&template, f.name())))
            .collect();
        registry.register_template(NAME, template);
        Ok(Self {
            registry,
            static_deps,
            env_names,
        })
    }

    pub(crate) fn static_dependencies(&self) -> &[Dependency] {
        &self.static_deps
    }

    pub(crate) fn render(&self, data: &dyn DataSource) -> Result<Rendered, TemplateError> {
        let state = Arc::new(Mutex::new(State::default()));
        for _ in 0..MAX_PASSES {
            let out = self.render_once(&state, data)?;
            let mut st = state.lock().unwrap_or_else(PoisonError::into_inner);
            let requested = std::mem::take(&mut st.requested);
            if requested.is_empty() {
                return Ok(Rendered::Complete(out.into_bytes()));
            }
            for dep in requested {
                let v = data.get(&dep);
                st.cache.insert(dep, v);
            }
            let missing: BTreeSet<Dependency> = st
                .cache
                .iter()
                .filter(|(_, v)| v.is_none())
                .map(|(d, _)| d.clone())
                .collect();
            if !missing.is_empty() {
                return Ok(Rendered::Incomplete { missing });
            }
        }
        Err(TemplateError {
            line: 1,
            column: 1,
            message: format!("dependencies still changing after {MAX_PASSES} passes"),
        })
    }

    fn render_once(&self, state: &Arc<Mutex<State>>, data: &dyn DataSource) -> Result<String, TemplateError> {
        let template = self.registry.get_template(NAME).ok_or_else(|| TemplateError {
            line: 1,
            column: 1,
            message: "template missing from registry".into(),
        })?;
        let ctx = Context::null();
        let mut rc = RenderContext::new(None);
        for func in [Func::Secret, Func::Secrets, Func::PkiCert, Func::File] {
            rc.register_local_helper(
                func.name(),
                Box::new(DepHelper {
                    func,
                    state: Arc::clone(state),
                }),
            );
        }
        // Environment values are resolved before the render: helpers must be Send + Sync.
        for (func, names) in &self.env_names {
            let env = names.iter().map(|n| (n.clone(), data.env(n))).collect();
            rc.register_local_helper(func.name(), Box::new(EnvHelper { func: *func, env }));
        }
        let mut out = StringOutput::new();
        template
            .render(&self.registry, &ctx, &mut rc, &mut out)
            .map_err(render_error)?;
        out.into_string().map_err(|_| TemplateError {
            line: 1,
            column: 1,
            message: "output is not UTF-8".into(),
        })
    }
}

fn render_error(e: RenderError) -> TemplateError {
    TemplateError {
        line: e.line_no.unwrap_or(1),
        column: e.column_no.unwrap_or(1),
        message: e.reason().to_string(),
    }
}

fn params(h: &Helper<'_>) -> Vec<Val> {
    h.params().iter().map(|p| Val::Json(p.value().clone())).collect()
}

/// A pure consul-template function as a handlebars helper (`and`/`or` return the deciding operand).
struct PureHelper(Func);

impl HelperDef for PureHelper {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let args = params(h);
        self.0.check_arity(args.len()).map_err(RenderErrorReason::Other)?;
        let result = match self.0 {
            Func::And | Func::Or => {
                let want = self.0 == Func::Or;
                let pos = args
                    .iter()
                    .position(|a| a.truth() == want)
                    .unwrap_or(args.len() - 1);
                args.into_iter().nth(pos).unwrap_or(Val::Invalid)
            }
            f => f
                .call(args)
                .map_err(|m| RenderErrorReason::Other(format!("error calling {m}")))?,
        };
        Ok(ScopedJson::Derived(result.into_json()))
    }
}

/// `{{go_print x}}`: prints like Go (`map[…]`, `[a b]`, `<no value>`).
struct GoPrint;

impl HelperDef for GoPrint {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let mut out = String::new();
        for (i, v) in params(h).into_iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            print_val(&mut out, &v.settle());
        }
        Ok(ScopedJson::Derived(Value::String(out)))
    }
}

/// `secret`, `secrets`, `pkiCert`, `file`: data from the render's cache, or a recorded request.
struct DepHelper {
    func: Func,
    state: Arc<Mutex<State>>,
}

impl HelperDef for DepHelper {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let args: Vec<Value> = h.params().iter().map(|p| p.value().clone()).collect();
        self.func
            .check_arity(args.len())
            .map_err(RenderErrorReason::Other)?;
        let dep = dependency(self.func, &args)
            .map_err(|m| RenderErrorReason::Other(format!("error calling {m}")))?;
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let value = match st.cache.get(&dep) {
            Some(Some(v)) => sorted_deep(v),
            Some(None) => Value::Null,
            None => {
                st.requested.insert(dep);
                Value::Null
            }
        };
        Ok(ScopedJson::Derived(value))
    }
}

/// `env`, `mustEnv`, `envOrDefault` over values resolved before the render.
struct EnvHelper {
    func: Func,
    env: BTreeMap<String, Option<String>>,
}

impl HelperDef for EnvHelper {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let args: Vec<Value> = h.params().iter().map(|p| p.value().clone()).collect();
        self.func
            .check_arity(args.len())
            .map_err(RenderErrorReason::Other)?;
        let name = args[0].as_str().unwrap_or_default();
        let value = self.env.get(name).cloned().flatten();
        let s = match self.func {
            Func::Env => value.unwrap_or_default(),
            Func::MustEnv => value.filter(|v| !v.is_empty()).ok_or_else(|| {
                RenderErrorReason::Other(
                    "error calling mustEnv: the required environment variable is empty or unset".to_owned(),
                )
            })?,
            _ => match value {
                Some(v) => v,
                None => args[1].as_str().unwrap_or_default().to_owned(),
            },
        };
        Ok(ScopedJson::Derived(Value::String(s)))
    }
}

/// Calls of dependency helpers whose parameters are all string literals.
fn collect_deps(t: &Template, out: &mut Vec<Dependency>) {
    for e in &t.elements {
        element_deps(e, out);
    }
}

fn element_deps(e: &TemplateElement, out: &mut Vec<Dependency>) {
    let h = match e {
        TemplateElement::Expression(h)
        | TemplateElement::HtmlExpression(h)
        | TemplateElement::HelperBlock(h) => h,
        _ => return,
    };
    if let Some(func) = h
        .name
        .as_name()
        .and_then(Func::lookup)
        .filter(|f| f.is_dependency())
    {
        let lits: Option<Vec<Value>> = h
            .params
            .iter()
            .map(|p| match p {
                Parameter::Literal(v @ Value::String(_)) => Some(v.clone()),
                _ => None,
            })
            .collect();
        if let Some(dep) = lits.and_then(|l| dependency(func, &l).ok()) {
            out.push(dep);
        }
    }
    for p in &h.params {
        if let Parameter::Subexpression(s) = p {
            element_deps(s.as_element(), out);
        }
    }
    for t in [&h.template, &h.inverse].into_iter().flatten() {
        collect_deps(t, out);
    }
}

/// Literal names passed to an environment helper anywhere in the template.
fn env_names(t: &Template, helper: &str) -> Vec<String> {
    fn walk(t: &Template, helper: &str, out: &mut Vec<String>) {
        for e in &t.elements {
            walk_element(e, helper, out);
        }
    }
    fn walk_element(e: &TemplateElement, helper: &str, out: &mut Vec<String>) {
        let h = match e {
            TemplateElement::Expression(h)
            | TemplateElement::HtmlExpression(h)
            | TemplateElement::HelperBlock(h) => h,
            _ => return,
        };
        if let (Some(true), Some(Parameter::Literal(Value::String(s)))) =
            (h.name.as_name().map(|n| n == helper), h.params.first())
        {
            out.push(s.clone());
        }
        for p in &h.params {
            if let Parameter::Subexpression(s) = p {
                walk_element(s.as_element(), helper, out);
            }
        }
        for t in [&h.template, &h.inverse].into_iter().flatten() {
            walk(t, helper, out);
        }
    }
    let mut out = Vec::new();
    walk(t, helper, &mut out);
    out
}
