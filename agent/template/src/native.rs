//! Native handlebars templates, rendered by the `handlebars` crate with the same data model and
//! functions as the Go dialect.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};

use handlebars::template::{Parameter, TemplateElement};
use handlebars::{
    Context, Handlebars, Helper, HelperDef, RenderContext, RenderError, RenderErrorReason, Renderable,
    ScopedJson, Template,
};
use serde_json::Value;

use crate::exec::dependency;
use crate::funcs::{self, Func};
use crate::value::{Val, cost, print_val, sorted_deep};
use crate::{DataSource, Dependency, Limits, Rendered, TemplateError};

/// Name of the one template in the registry.
const NAME: &str = "template";

/// The helper inserted at the top of every block body to count the render's steps.
const STEP: &str = "__ferrovault_step";

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
    /// Steps taken in this pass.
    steps: u64,
}

impl State {
    /// Counts `n` steps against the limit.
    fn step(&mut self, n: u64, limits: &Limits) -> Result<(), RenderError> {
        self.steps = self.steps.saturating_add(n);
        if self.steps > limits.max_steps {
            return Err(RenderErrorReason::Other(format!(
                "the render took more than {} steps (the step limit)",
                limits.max_steps
            ))
            .into());
        }
        Ok(())
    }
}

impl Native {
    pub(crate) fn compile(text: &str, limits: &Limits) -> Result<Self, TemplateError> {
        check_depth(text, limits.max_depth)?;
        let mut template = Template::compile(text).map_err(|e| {
            let (line, column) = e.pos().unwrap_or((1, 1));
            TemplateError {
                line,
                column,
                message: e.reason().to_string(),
            }
        })?;
        refuse_partials(&template)?;
        count_steps_in_blocks(&mut template);
        let mut static_deps = Vec::new();
        collect_deps(&template, &mut static_deps);
        let mut seen = BTreeSet::new();
        static_deps.retain(|d| seen.insert(d.clone()));

        let mut registry = Handlebars::new();
        // Go writes values as they are; handlebars would HTML-escape them.
        registry.register_escape_fn(handlebars::no_escape);
        registry.set_strict_mode(false);
        registry.set_prevent_indent(true);
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

    pub(crate) fn render(
        &self,
        data: &dyn DataSource,
        limits: &Limits,
        denied: &[Func],
    ) -> Result<Rendered, TemplateError> {
        let state = Arc::new(Mutex::new(State::default()));
        for _ in 0..MAX_PASSES {
            let out = self.render_once(&state, data, limits, denied)?;
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

    fn render_once(
        &self,
        state: &Arc<Mutex<State>>,
        data: &dyn DataSource,
        limits: &Limits,
        denied: &[Func],
    ) -> Result<String, TemplateError> {
        let template = self.registry.get_template(NAME).ok_or_else(|| TemplateError {
            line: 1,
            column: 1,
            message: "template missing from registry".into(),
        })?;
        let ctx = Context::null();
        let mut rc = RenderContext::new(None);
        lock(state).steps = 0;
        for (name, func) in funcs::all() {
            let helper: Box<dyn HelperDef + Send + Sync> = if func.is_dependency() {
                Box::new(DepHelper {
                    func,
                    state: Arc::clone(state),
                })
            } else if matches!(func, Func::Env | Func::MustEnv | Func::EnvOrDefault) {
                continue;
            } else {
                Box::new(PureHelper {
                    func,
                    state: Arc::clone(state),
                    limits: *limits,
                })
            };
            rc.register_local_helper(name, helper);
        }
        rc.register_local_helper(
            STEP,
            Box::new(StepHelper {
                state: Arc::clone(state),
                limits: *limits,
            }),
        );
        // Environment values are resolved before the render: helpers must be Send + Sync.
        for (func, names) in &self.env_names {
            let env = names.iter().map(|n| (n.clone(), data.env(n))).collect();
            rc.register_local_helper(func.name(), Box::new(EnvHelper { func: *func, env }));
        }
        for func in denied {
            rc.register_local_helper(func.name(), Box::new(DeniedHelper(*func)));
        }
        let mut out = BoundedOutput {
            out: String::new(),
            max: limits.max_output_bytes,
        };
        template
            .render(&self.registry, &ctx, &mut rc, &mut out)
            .map_err(render_error)?;
        Ok(out.out)
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The render's output, refusing to grow past the output limit.
struct BoundedOutput {
    out: String,
    max: usize,
}

impl handlebars::Output for BoundedOutput {
    fn write(&mut self, seg: &str) -> std::io::Result<()> {
        if self.out.len() + seg.len() > self.max {
            return Err(std::io::Error::other(format!(
                "the output is larger than {} bytes (the output limit)",
                self.max
            )));
        }
        self.out.push_str(seg);
        Ok(())
    }
}

/// `{{__ferrovault_step N}}` at the top of each block body: counts N steps (the body's size).
struct StepHelper {
    state: Arc<Mutex<State>>,
    limits: Limits,
}

impl HelperDef for StepHelper {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let n = h.param(0).and_then(|p| p.value().as_u64()).unwrap_or(1);
        lock(&self.state).step(n, &self.limits)?;
        Ok(ScopedJson::Derived(Value::String(String::new())))
    }
}

/// Nesting of blocks (`{{#…}}`, each `{{else x}}` of a chain adding one) and parentheses, checked on
/// the text before the handlebars parser (which recurses on it) sees it.
fn check_depth(text: &str, max: usize) -> Result<(), TemplateError> {
    let too_deep = |off: usize| {
        crate::lex::error_at(
            text,
            off,
            format!(
                "blocks and parentheses nested more than {max} deep {}",
                crate::NESTING_LIMIT
            ),
        )
    };
    // Levels each open block adds (1, plus one per `else if`-style link of its chain).
    let mut blocks: Vec<usize> = Vec::new();
    let mut rest = text;
    let mut base = 0;
    while let Some(start) = rest.find("{{") {
        let open = base + start;
        let inner = &text[open + 2..];
        let Some(end) = inner.find("}}") else { break };
        let body = inner[..end].trim_start_matches(['{', '~']).trim_start();
        let mut parens = 0usize;
        let mut deepest = 0usize;
        for c in body.chars() {
            match c {
                '(' => {
                    parens += 1;
                    deepest = deepest.max(parens);
                }
                ')' => parens = parens.saturating_sub(1),
                _ => {}
            }
        }
        if body.starts_with('#') || body.starts_with('^') {
            blocks.push(1);
        } else if body.starts_with('/') {
            blocks.pop();
        } else if let Some(chain) = body.strip_prefix("else")
            && !chain.trim_matches(['~', ' ', '\t', '\n', '\r']).is_empty()
            && let Some(top) = blocks.last_mut()
        {
            *top += 1;
        }
        if blocks.iter().sum::<usize>() + deepest > max {
            return Err(too_deep(open));
        }
        base = open + 2 + end + 2;
        rest = &text[base..];
    }
    Ok(())
}

/// Partials and decorators are refused: the registry holds this one template, and a partial that
/// includes itself would recurse without end.
fn refuse_partials(t: &Template) -> Result<(), TemplateError> {
    for (i, e) in t.elements.iter().enumerate() {
        let (line, column) = t.mapping.get(i).map_or((1, 1), |m| (m.0, m.1));
        let refused = |what: &str| TemplateError {
            line,
            column,
            message: format!("{what} are not supported in native templates"),
        };
        match e {
            TemplateElement::PartialExpression(_) | TemplateElement::PartialBlock(_) => {
                return Err(refused("partials"));
            }
            TemplateElement::DecoratorExpression(_) | TemplateElement::DecoratorBlock(_) => {
                return Err(refused("decorators (inline partials)"));
            }
            TemplateElement::HelperBlock(h) => {
                for inner in [&h.template, &h.inverse].into_iter().flatten() {
                    refuse_partials(inner)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Puts a step counter at the top of every block body (an empty body gets one too), weighted by
/// the body's size, so that loops (`each` over large data, however deeply nested) count against the
/// step limit.
fn count_steps_in_blocks(t: &mut Template) {
    for e in &mut t.elements {
        if let TemplateElement::HelperBlock(h) = e {
            if h.template.is_none() {
                h.template = Some(Template::default());
            }
            for inner in [&mut h.template, &mut h.inverse].into_iter().flatten() {
                count_steps_in_blocks(inner);
                let weight = inner.elements.len() + 1;
                let Ok(step) = Template::compile(&format!("{{{{{STEP} {weight}}}}}")) else {
                    continue;
                };
                let mapping = inner.mapping.first().or(step.mapping.first()).cloned();
                if let (Some(element), Some(mapping)) = (step.elements.into_iter().next(), mapping) {
                    inner.elements.insert(0, element);
                    inner.mapping.insert(0, mapping);
                }
            }
        }
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

/// A function in `function_denylist`: fails when called, whatever its arguments.
struct DeniedHelper(Func);

impl HelperDef for DeniedHelper {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        _: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        Err(RenderErrorReason::Other(format!("error calling {}: {}", self.0.name(), crate::DENIED)).into())
    }
}

/// A pure consul-template function as a handlebars helper (`and`/`or` return the deciding operand).
/// Each call counts a step plus what its arguments and result weigh.
struct PureHelper {
    func: Func,
    state: Arc<Mutex<State>>,
    limits: Limits,
}

impl HelperDef for PureHelper {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let args = params(h);
        self.func
            .check_arity(args.len())
            .map_err(RenderErrorReason::Other)?;
        let weight: u64 = args.iter().map(|a| cost(a.json())).sum();
        lock(&self.state).step(1 + weight, &self.limits)?;
        let result = match self.func {
            Func::And | Func::Or => {
                let want = self.func == Func::Or;
                let pos = args
                    .iter()
                    .position(|a| a.truth() == want)
                    .unwrap_or(args.len() - 1);
                args.into_iter().nth(pos).unwrap_or(Val::Invalid)
            }
            f => f
                .call(args, self.limits.max_output_bytes)
                .map_err(|m| RenderErrorReason::Other(format!("error calling {m}")))?,
        };
        lock(&self.state).step(cost(result.json()), &self.limits)?;
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
