//! Executes the AST with Go `text/template` semantics.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::funcs::{Func, range_items};
use crate::lex::error_at;
use crate::parse::{Cmd, Expr, Node, Pipe, Tree};
use crate::value::{CERT_FIELDS, SECRET_FIELDS, Val, cost, print_val, struct_field_default};
use crate::{DataSource, Dependency, Limits, TemplateError};

type Result<T> = std::result::Result<T, TemplateError>;

/// How a list of nodes ended: normally, or at a `break`/`continue` for the enclosing `range`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    Normal,
    Break,
    Continue,
}

/// State of one render pass.
pub(crate) struct Exec<'a> {
    src: &'a str,
    defs: &'a BTreeMap<String, Vec<Node>>,
    /// `template` calls in progress (bounded by [`Limits::max_depth`]).
    calls: usize,
    missing_key_error: bool,
    data: &'a dyn DataSource,
    /// Dependencies that had no data in this pass.
    pub missing: BTreeSet<Dependency>,
    vars: Vec<(String, Val)>,
    /// The output so far.
    pub out: String,
    limits: &'a Limits,
    steps: u64,
    /// Offset of the action being executed (where a limit error points).
    at: usize,
    /// `function_denylist`: these fail when called.
    pub denied: &'a [Func],
}

impl<'a> Exec<'a> {
    pub(crate) fn new(
        src: &'a str,
        defs: &'a BTreeMap<String, Vec<Node>>,
        missing_key_error: bool,
        data: &'a dyn DataSource,
        limits: &'a Limits,
    ) -> Self {
        Self {
            src,
            defs,
            calls: 0,
            missing_key_error,
            data,
            missing: BTreeSet::new(),
            vars: vec![("$".to_owned(), Val::Invalid)],
            out: String::new(),
            limits,
            steps: 0,
            at: 0,
            denied: &[],
        }
    }

    fn err(&self, off: usize, message: impl Into<String>) -> TemplateError {
        error_at(self.src, off, message)
    }

    /// Counts `n` steps against [`Limits::max_steps`].
    fn step(&mut self, n: u64) -> Result<()> {
        self.steps = self.steps.saturating_add(n);
        if self.steps > self.limits.max_steps {
            return Err(self.err(
                self.at,
                format!(
                    "the render took more than {} steps (the step limit)",
                    self.limits.max_steps
                ),
            ));
        }
        Ok(())
    }

    /// Fails once a string (the output, or a function's result) is larger than the output limit.
    fn check_size(&self, len: usize, what: &str) -> Result<()> {
        if len > self.limits.max_output_bytes {
            return Err(self.err(
                self.at,
                format!(
                    "{what} is larger than {} bytes (the output limit)",
                    self.limits.max_output_bytes
                ),
            ));
        }
        Ok(())
    }

    /// Executes a node list with `dot` as `.`.
    pub(crate) fn walk(&mut self, nodes: &[Node], dot: &Val) -> Result<Flow> {
        for node in nodes {
            self.step(1)?;
            match node {
                Node::Text(t) => {
                    self.out.push_str(t);
                    self.check_size(self.out.len(), "the output")?;
                }
                Node::Action(pipe) => {
                    self.at = pipe.cmds.first().map_or(self.at, |c| c.off);
                    let v = self.pipe(dot, pipe)?;
                    if pipe.decl.is_empty() {
                        print_val(&mut self.out, &v);
                        self.check_size(self.out.len(), "the output")?;
                    }
                }
                Node::Cond {
                    with,
                    pipe,
                    body,
                    else_,
                } => {
                    let mark = self.vars.len();
                    self.at = pipe.cmds.first().map_or(self.at, |c| c.off);
                    let v = self.pipe(dot, pipe)?;
                    let flow = if v.truth() {
                        if *with {
                            self.walk(body, &v)?
                        } else {
                            self.walk(body, dot)?
                        }
                    } else if let Some(e) = else_ {
                        self.walk(e, dot)?
                    } else {
                        Flow::Normal
                    };
                    self.vars.truncate(mark);
                    if flow != Flow::Normal {
                        return Ok(flow);
                    }
                }
                Node::Range { pipe, body, else_ } => {
                    let flow = self.range(dot, pipe, body, else_.as_deref())?;
                    if flow != Flow::Normal {
                        return Ok(flow);
                    }
                }
                Node::Template { off, name, pipe } => self.template(dot, *off, name, pipe.as_ref())?,
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
            }
        }
        Ok(Flow::Normal)
    }

    /// `{{template "name" pipeline}}`: the definition, run with the pipeline's value as `.` and `$`.
    fn template(&mut self, dot: &Val, off: usize, name: &str, pipe: Option<&Pipe>) -> Result<()> {
        self.at = off;
        let Some(body) = self.defs.get(name) else {
            return Err(self.err(off, format!("no such template {name:?}")));
        };
        let data = match pipe {
            Some(p) => self.pipe_value(dot, p)?,
            None => Val::Invalid,
        };
        if self.calls >= self.limits.max_depth {
            return Err(self.err(
                off,
                format!(
                    "templates called within each other more than {} deep {}",
                    self.limits.max_depth,
                    crate::NESTING_LIMIT
                ),
            ));
        }
        let vars = std::mem::replace(&mut self.vars, vec![("$".to_owned(), data.clone())]);
        self.calls += 1;
        let result = self.walk(body, &data);
        self.calls -= 1;
        self.vars = vars;
        result.map(|_| ())
    }

    fn range(&mut self, dot: &Val, pipe: &Pipe, body: &[Node], else_: Option<&[Node]>) -> Result<Flow> {
        let mark = self.vars.len();
        let v = self.pipe_value(dot, pipe)?;
        for name in &pipe.decl {
            self.vars.push((name.clone(), v.clone()));
        }
        let off = pipe.cmds.first().map_or(0, |c| c.off);
        let items = match &v {
            Val::Pending => {
                self.vars.truncate(mark);
                return Ok(Flow::Normal);
            }
            Val::Invalid => Vec::new(),
            Val::Json(j) => range_items(j)
                .ok_or_else(|| self.err(off, format!("range can't iterate over type {}", v.type_name())))?,
            other => {
                return Err(self.err(
                    off,
                    format!("range can't iterate over type {}", other.type_name()),
                ));
            }
        };
        if let (true, Some(e)) = (items.is_empty(), else_) {
            // `break`/`continue` in a range's else belong to an enclosing range.
            let flow = self.walk(e, dot)?;
            if flow != Flow::Normal {
                self.vars.truncate(mark);
                return Ok(flow);
            }
        }
        let declared = mark + pipe.decl.len();
        for (key, elem) in items {
            self.at = off;
            self.step(1)?;
            match pipe.decl.len() {
                1 => self.vars[mark].1 = Val::Json(elem.clone()),
                2 => {
                    self.vars[mark].1 = Val::Json(key);
                    self.vars[mark + 1].1 = Val::Json(elem.clone());
                }
                _ => {}
            }
            let flow = self.walk(body, &Val::Json(elem))?;
            self.vars.truncate(declared);
            if flow == Flow::Break {
                break;
            }
        }
        self.vars.truncate(mark);
        Ok(Flow::Normal)
    }

    /// Evaluates a pipeline and declares its variables.
    fn pipe(&mut self, dot: &Val, pipe: &Pipe) -> Result<Val> {
        let v = self.pipe_value(dot, pipe)?;
        if pipe.assign {
            for name in &pipe.decl {
                if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    slot.1 = v.clone();
                }
            }
            return Ok(v);
        }
        for name in &pipe.decl {
            self.vars.push((name.clone(), v.clone()));
        }
        Ok(v)
    }

    fn pipe_value(&mut self, dot: &Val, pipe: &Pipe) -> Result<Val> {
        let mut value = None;
        for cmd in &pipe.cmds {
            value = Some(self.cmd(dot, cmd, value)?.settle());
        }
        Ok(value.unwrap_or(Val::Invalid))
    }

    fn cmd(&mut self, dot: &Val, cmd: &Cmd, last: Option<Val>) -> Result<Val> {
        match &cmd.args[0] {
            Expr::Func { off, func } => self.call(dot, *func, *off, &cmd.args[1..], last),
            other => self.arg(dot, other),
        }
    }

    fn arg(&mut self, dot: &Val, e: &Expr) -> Result<Val> {
        match e {
            Expr::Dot => Ok(dot.clone()),
            Expr::Field { off, names } => self.fields(dot, names, *off),
            Expr::Var { off, name, names } => {
                let v = self
                    .vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| self.err(*off, format!("undefined variable {name:?}")))?;
                if names.is_empty() {
                    return Ok(v);
                }
                self.fields(&v, names, *off)
            }
            Expr::Func { off, func } => self.call(dot, *func, *off, &[], None),
            Expr::Lit(v) => Ok(Val::Json(v.clone())),
            Expr::Nil { .. } => Ok(Val::Json(Value::Null)),
            Expr::Paren(p) => self.pipe_value(dot, p),
            Expr::Chain { off, base, names } => {
                let b = self.arg(dot, base)?;
                self.fields(&b, names, *off)
            }
        }
    }

    /// Go's `evalFieldChain`: missing leaf → nil (or an error with `error_on_missing_key`),
    /// field of nil → error, unknown struct field → error.
    fn fields(&self, base: &Val, names: &[String], off: usize) -> Result<Val> {
        let Some((first, rest)) = names.split_first() else {
            return Ok(base.clone());
        };
        let cur: &Value;
        let owned_default;
        match base {
            Val::Pending => Ok(Val::Pending),
            Val::Invalid => {
                if self.missing_key_error {
                    return Err(self.err(off, format!("nil data; no entry for key {first:?}")));
                }
                Ok(Val::Invalid)
            }
            Val::Json(v) => self.walk_fields(v, names, off),
            Val::Secret(v) | Val::Cert(v) => {
                let known: &[&str] = if matches!(base, Val::Secret(_)) {
                    &SECRET_FIELDS
                } else {
                    &CERT_FIELDS
                };
                if !known.contains(&first.as_str()) {
                    return Err(self.err(
                        off,
                        format!("can't evaluate field {first} in type {}", base.type_name()),
                    ));
                }
                cur = match v.get(first) {
                    Some(Value::Null) if first == "Data" => {
                        owned_default = struct_field_default(first);
                        &owned_default
                    }
                    Some(f) => f,
                    None => {
                        owned_default = struct_field_default(first);
                        &owned_default
                    }
                };
                if cur.is_null() && !rest.is_empty() {
                    // A nil pointer field (Auth, WrapInfo) of the struct.
                    return Err(self.err(off, format!("nil pointer evaluating *api.{first}.{}", rest[0])));
                }
                self.walk_fields(cur, rest, off)
            }
        }
    }

    fn walk_fields(&self, mut cur: &Value, names: &[String], off: usize) -> Result<Val> {
        static NULL: Value = Value::Null;
        for name in names {
            cur = match cur {
                Value::Object(m) => match m.get(name) {
                    Some(v) => v,
                    None if self.missing_key_error => {
                        return Err(self.err(off, format!("map has no entry for key {name:?}")));
                    }
                    None => &NULL,
                },
                Value::Null => {
                    return Err(self.err(off, format!("nil pointer evaluating interface {{}}.{name}")));
                }
                other => {
                    return Err(self.err(
                        off,
                        format!(
                            "can't evaluate field {name} in type {}",
                            crate::value::json_type_name(other)
                        ),
                    ));
                }
            };
        }
        Ok(Val::Json(cur.clone()))
    }

    fn call(&mut self, dot: &Val, func: Func, off: usize, args: &[Expr], last: Option<Val>) -> Result<Val> {
        self.at = off;
        self.step(1)?;
        if self.denied.contains(&func) {
            // consul-template's message for a function in `function_denylist`
            return Err(self.err(off, format!("error calling {}: {}", func.name(), crate::DENIED)));
        }
        let result = self.call_unbounded(dot, func, off, args, last)?;
        self.at = off;
        if let Val::Json(Value::String(s)) = &result {
            self.check_size(s.len(), "the result")?;
        }
        self.step(cost(result.json()))?;
        Ok(result)
    }

    fn call_unbounded(
        &mut self,
        dot: &Val,
        func: Func,
        off: usize,
        args: &[Expr],
        last: Option<Val>,
    ) -> Result<Val> {
        if matches!(func, Func::And | Func::Or) {
            let mut result = Val::Invalid;
            for a in args {
                let v = self.arg(dot, a)?;
                if v == Val::Pending {
                    return Ok(Val::Pending);
                }
                let t = v.truth();
                result = v;
                if t == (func == Func::Or) {
                    return Ok(result);
                }
            }
            return Ok(last.unwrap_or(result));
        }
        let mut vals = Vec::with_capacity(args.len() + 1);
        for a in args {
            vals.push(self.arg(dot, a)?);
        }
        vals.extend(last);
        if vals.contains(&Val::Pending) {
            return Ok(Val::Pending);
        }
        self.at = off;
        self.step(vals.iter().map(|v| cost(v.json())).sum())?;
        let fail = |m: String| error_at(self.src, off, format!("error calling {m}"));
        match func {
            Func::Secret | Func::Secrets | Func::PkiCert | Func::File => {
                let json: Vec<Value> = vals.into_iter().map(Val::into_json).collect();
                let dep = dependency(func, &json).map_err(fail)?;
                match self.data.get(&dep) {
                    Some(v) => Ok(match func {
                        Func::Secret => Val::Secret(v),
                        Func::PkiCert => Val::Cert(v),
                        Func::Secrets => Val::Json(sorted_list(v)),
                        _ => Val::Json(v),
                    }),
                    None => {
                        self.missing.insert(dep);
                        Ok(Val::Pending)
                    }
                }
            }
            Func::Env | Func::MustEnv | Func::EnvOrDefault => {
                let json: Vec<Value> = vals.into_iter().map(Val::into_json).collect();
                let name = string_arg(func, &json, 0).map_err(fail)?;
                let value = self.data.env(&name);
                let s = match func {
                    Func::Env => value.unwrap_or_default(),
                    // The name is not shown: it may come from secret data.
                    Func::MustEnv => value.filter(|v| !v.is_empty()).ok_or_else(|| {
                        fail("mustEnv: the required environment variable is empty or unset".to_owned())
                    })?,
                    // Set, even to "", wins over the default (consul-template uses LookupEnv).
                    _ => match value {
                        Some(v) => v,
                        None => string_arg(func, &json, 1).map_err(fail)?,
                    },
                };
                Ok(Val::Json(Value::String(s)))
            }
            _ => func.call(vals, self.limits.max_output_bytes).map_err(fail),
        }
    }
}

fn sorted_list(v: Value) -> Value {
    match v {
        Value::Array(mut items) => {
            if items.iter().all(Value::is_string) {
                items.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            }
            Value::Array(items)
        }
        other => other,
    }
}

fn string_arg(func: Func, args: &[Value], i: usize) -> std::result::Result<String, String> {
    match args.get(i) {
        Some(Value::String(s)) => Ok(s.clone()),
        _ => Err(format!("{}: argument {} must be a string", func.name(), i + 1)),
    }
}

/// The dependency a `secret`/`secrets`/`pkiCert`/`file` call with these arguments needs.
pub(crate) fn dependency(func: Func, args: &[Value]) -> std::result::Result<Dependency, String> {
    let raw = string_arg(func, args, 0)?;
    let path = raw.trim().trim_matches('/').to_owned();
    if path.is_empty() && func != Func::File {
        return Err(format!("{}: the path is empty", func.name()));
    }
    let mut kv = BTreeMap::new();
    for i in 1..args.len() {
        let arg = string_arg(func, args, i)?;
        if arg.is_empty() {
            continue;
        }
        let Some((k, v)) = arg.split_once('=') else {
            return Err(format!("{}: argument {} is not a k=v pair", func.name(), i + 1));
        };
        kv.insert(k.trim().to_owned(), v.trim().to_owned());
    }
    let write = args.len() > 1;
    let args: Vec<(String, String)> = kv.into_iter().collect();
    Ok(match func {
        Func::Secret if !write => Dependency::Read { path },
        Func::Secret => Dependency::Write { path, args },
        Func::Secrets => Dependency::List { path },
        Func::PkiCert => Dependency::PkiCert { path, args },
        _ => Dependency::File { path: raw },
    })
}

/// Dependencies of calls whose arguments are all literals, in source order, without duplicates.
pub(crate) fn static_dependencies(tree: &Tree) -> Vec<Dependency> {
    let mut found = node_dependencies(&tree.nodes);
    for body in tree.defs.values() {
        found.extend(node_dependencies(body));
    }
    let mut seen = BTreeSet::new();
    found.retain(|d| seen.insert(d.clone()));
    found
}

fn node_dependencies(nodes: &[Node]) -> Vec<Dependency> {
    let mut found = Vec::new();
    for node in nodes {
        match node {
            Node::Text(_) | Node::Break | Node::Continue | Node::Template { pipe: None, .. } => {}
            Node::Template { pipe: Some(p), .. } => pipe_deps(p, &mut found),
            Node::Action(p) => pipe_deps(p, &mut found),
            Node::Cond {
                pipe, body, else_, ..
            }
            | Node::Range { pipe, body, else_ } => {
                pipe_deps(pipe, &mut found);
                found.extend(node_dependencies(body));
                if let Some(e) = else_ {
                    found.extend(node_dependencies(e));
                }
            }
        }
    }
    found
}

fn pipe_deps(pipe: &Pipe, found: &mut Vec<Dependency>) {
    for (stage, cmd) in pipe.cmds.iter().enumerate() {
        if let (0, Some(Expr::Func { func, .. })) = (stage, cmd.args.first())
            && func.is_dependency()
        {
            let lits: Option<Vec<Value>> = cmd.args[1..]
                .iter()
                .map(|a| match a {
                    Expr::Lit(v @ Value::String(_)) => Some(v.clone()),
                    _ => None,
                })
                .collect();
            if let Some(dep) = lits.and_then(|l| dependency(*func, &l).ok()) {
                found.push(dep);
            }
        }
        for a in &cmd.args {
            expr_deps(a, found);
        }
    }
}

fn expr_deps(e: &Expr, found: &mut Vec<Dependency>) {
    match e {
        Expr::Paren(p) => pipe_deps(p, found),
        Expr::Chain { base, .. } => expr_deps(base, found),
        _ => {}
    }
}
