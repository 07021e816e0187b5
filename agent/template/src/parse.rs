//! Parser: lexed items to an AST of Go template nodes, with consul-template's functions resolved.

use serde_json::Value;

use crate::TemplateError;
use crate::funcs::Func;
use crate::lex::{Item, Keyword, Tok, TokKind, error_at};

/// A node of the template body.
#[derive(Debug)]
pub(crate) enum Node {
    Text(String),
    /// `{{ pipeline }}`: prints unless it declares variables.
    Action(Pipe),
    /// `if`/`with` (`else if`/`else with` nest in `else_`).
    Cond {
        with: bool,
        pipe: Pipe,
        body: Vec<Node>,
        else_: Option<Vec<Node>>,
    },
    Range {
        pipe: Pipe,
        body: Vec<Node>,
        else_: Option<Vec<Node>>,
    },
    /// `{{ template "name" pipeline }}` (and the call half of `block`).
    Template {
        off: usize,
        name: String,
        pipe: Option<Pipe>,
    },
    /// `{{ break }}` inside a `range`.
    Break,
    /// `{{ continue }}` inside a `range`.
    Continue,
}

/// A parsed template: its body and the templates it defines (`define`, `block`).
#[derive(Debug, Default)]
pub(crate) struct Tree {
    pub nodes: Vec<Node>,
    pub defs: std::collections::BTreeMap<String, Vec<Node>>,
}

/// `$x := cmd | cmd …` (or `$x = …` when `assign`)
#[derive(Debug)]
pub(crate) struct Pipe {
    pub decl: Vec<String>,
    /// `$x = …`: sets a declared variable instead of declaring one.
    pub assign: bool,
    pub cmds: Vec<Cmd>,
}

/// One stage of a pipeline.
#[derive(Debug)]
pub(crate) struct Cmd {
    pub off: usize,
    pub args: Vec<Expr>,
}

/// An operand.
#[derive(Debug)]
pub(crate) enum Expr {
    Dot,
    /// `.A.b` relative to dot.
    Field {
        off: usize,
        names: Vec<String>,
    },
    /// `$x.A`
    Var {
        off: usize,
        name: String,
        names: Vec<String>,
    },
    /// A function name (called with the command's other arguments).
    Func {
        off: usize,
        func: Func,
    },
    Lit(Value),
    Nil {
        off: usize,
    },
    Paren(Box<Pipe>),
    /// `(…).A.b` or `f.A`
    Chain {
        off: usize,
        base: Box<Expr>,
        names: Vec<String>,
    },
}

/// What ended a list of nodes.
enum ListEnd {
    Eof,
    /// `{{ end }}`
    Action,
    /// `{{ else … }}` with the tokens after `else`.
    Else {
        off: usize,
        toks: Vec<Tok>,
    },
}

struct Parser<'s> {
    src: &'s str,
    items: std::vec::IntoIter<Item>,
    vars: Vec<String>,
    /// Current nesting of blocks and parentheses (parsing and executing recurse on it).
    depth: usize,
    max_depth: usize,
    /// How many `range` bodies enclose the list being parsed (`break`/`continue` need one).
    ranges: usize,
    /// Parsing a `define`/`block` body (another `define` may not start there).
    in_define: bool,
    defs: std::collections::BTreeMap<String, Vec<Node>>,
}

/// Parses lexed items into nodes, refusing nesting deeper than `max_depth`.
pub(crate) fn parse(src: &str, items: Vec<Item>, max_depth: usize) -> Result<Tree, TemplateError> {
    let mut p = Parser {
        src,
        items: items.into_iter(),
        vars: vec!["$".to_owned()],
        depth: 0,
        max_depth,
        ranges: 0,
        in_define: false,
        defs: std::collections::BTreeMap::new(),
    };
    let (nodes, end) = p.list()?;
    match end {
        ListEnd::Eof => Ok(Tree { nodes, defs: p.defs }),
        ListEnd::Action => Err(p.err(0, "unexpected {{end}}")),
        ListEnd::Else { off, .. } => Err(p.err(off, "unexpected {{else}}")),
    }
}

impl Parser<'_> {
    fn err(&self, off: usize, message: impl Into<String>) -> TemplateError {
        error_at(self.src, off, message)
    }

    /// Enters one more level of nesting at `off`, or fails past the limit.
    fn enter(&mut self, off: usize) -> Result<(), TemplateError> {
        if self.depth >= self.max_depth {
            return Err(self.err(
                off,
                format!(
                    "blocks and parentheses nested more than {} deep {}",
                    self.max_depth,
                    crate::NESTING_LIMIT
                ),
            ));
        }
        self.depth += 1;
        Ok(())
    }

    fn list(&mut self) -> Result<(Vec<Node>, ListEnd), TemplateError> {
        let mut nodes = Vec::new();
        while let Some(item) = self.items.next() {
            let (off, toks) = match item {
                Item::Text(t) => {
                    nodes.push(Node::Text(t));
                    continue;
                }
                Item::Action { off, toks } => (off, toks),
            };
            let Some(first) = toks.first() else {
                return Err(self.err(off, "missing value for command"));
            };
            match &first.kind {
                TokKind::Keyword(Keyword::End) => {
                    if let Some(extra) = toks.get(1) {
                        return Err(
                            self.err(extra.off, format!("unexpected {} in end", extra.kind.describe()))
                        );
                    }
                    return Ok((nodes, ListEnd::Action));
                }
                TokKind::Keyword(Keyword::Else) => {
                    return Ok((
                        nodes,
                        ListEnd::Else {
                            off,
                            toks: toks[1..].to_vec(),
                        },
                    ));
                }
                TokKind::Keyword(k @ (Keyword::If | Keyword::With | Keyword::Range)) => {
                    let k = *k;
                    nodes.push(self.control(k, off, &toks[1..])?);
                }
                TokKind::Keyword(k @ (Keyword::Break | Keyword::Continue)) => {
                    if let Some(extra) = toks.get(1) {
                        let what = extra.kind.describe();
                        return Err(self.err(extra.off, format!("unexpected {what} in {}", k.name())));
                    }
                    if self.ranges == 0 {
                        return Err(
                            self.err(first.off, format!("{{{{{}}}}} outside {{{{range}}}}", k.name()))
                        );
                    }
                    nodes.push(if *k == Keyword::Break {
                        Node::Break
                    } else {
                        Node::Continue
                    });
                }
                TokKind::Keyword(Keyword::Define) => self.define(off, &toks[1..])?,
                TokKind::Keyword(Keyword::Template) => nodes.push(self.template(off, &toks[1..], false)?),
                TokKind::Keyword(Keyword::Block) => nodes.push(self.template(off, &toks[1..], true)?),
                _ => {
                    let pipe = self.pipeline(&toks, off, false)?;
                    nodes.push(Node::Action(pipe));
                }
            }
        }
        Ok((nodes, ListEnd::Eof))
    }

    fn control(&mut self, kind: Keyword, off: usize, toks: &[Tok]) -> Result<Node, TemplateError> {
        self.enter(off)?;
        let node = self.control_body(kind, off, toks);
        self.depth -= 1;
        node
    }

    fn control_body(&mut self, kind: Keyword, off: usize, toks: &[Tok]) -> Result<Node, TemplateError> {
        let mark = self.vars.len();
        let pipe = self.pipeline(toks, off, kind == Keyword::Range)?;
        let in_range = usize::from(kind == Keyword::Range);
        self.ranges += in_range;
        let body = self.list();
        self.ranges -= in_range;
        let (body, end) = body?;
        let else_ = match end {
            ListEnd::Eof => {
                return Err(self.err(
                    off,
                    format!("unexpected EOF: {:?} has no {{{{end}}}}", kind.name()),
                ));
            }
            ListEnd::Action => None,
            ListEnd::Else { off: else_off, toks } => match toks.first() {
                None => {
                    let (list, end) = self.list()?;
                    match end {
                        ListEnd::Action => Some(list),
                        ListEnd::Eof => {
                            return Err(self.err(
                                off,
                                format!("unexpected EOF: {:?} has no {{{{end}}}}", kind.name()),
                            ));
                        }
                        ListEnd::Else { off, .. } => {
                            return Err(self.err(off, "expected end; found {{else}}"));
                        }
                    }
                }
                Some(t) if kind != Keyword::Range && t.kind == TokKind::Keyword(kind) => {
                    Some(vec![self.control(kind, else_off, &toks[1..])?])
                }
                Some(t) => return Err(self.err(t.off, format!("unexpected {} in else", t.kind.describe()))),
            },
        };
        self.vars.truncate(mark);
        Ok(match kind {
            Keyword::Range => Node::Range { pipe, body, else_ },
            _ => Node::Cond {
                with: kind == Keyword::With,
                pipe,
                body,
                else_,
            },
        })
    }

    /// `{{define "name"}}…{{end}}`: only at the top level, like Go.
    fn define(&mut self, off: usize, toks: &[Tok]) -> Result<(), TemplateError> {
        if self.depth > 0 || self.in_define {
            return Err(self.err(off, "{{define}} is only allowed at the top level"));
        }
        let name = match toks {
            [
                Tok {
                    kind: TokKind::Str(name),
                    ..
                },
            ] => name.clone(),
            _ => return Err(self.err(off, "{{define}} takes one string literal: the template's name")),
        };
        let body = self.template_body(off, "define")?;
        self.add_definition(off, name, body)
    }

    /// `{{template "name" pipeline}}`, or `{{block "name" pipeline}}…{{end}}` (`block`): a
    /// definition and a call in one.
    fn template(&mut self, off: usize, toks: &[Tok], block: bool) -> Result<Node, TemplateError> {
        let keyword = if block { "block" } else { "template" };
        let Some(Tok {
            kind: TokKind::Str(name),
            ..
        }) = toks.first()
        else {
            return Err(self.err(
                off,
                format!("{{{{{keyword}}}}} needs a string literal: the template's name"),
            ));
        };
        let name = name.clone();
        let pipe = match toks.len() {
            1 => None,
            _ => Some(self.pipeline(&toks[1..], off, false)?),
        };
        if let Some(p) = &pipe
            && !p.decl.is_empty()
        {
            return Err(self.err(off, format!("{{{{{keyword}}}}} cannot declare variables")));
        }
        if block {
            if pipe.is_none() {
                return Err(self.err(off, "{{block}} needs a pipeline after the name"));
            }
            self.enter(off)?;
            let body = self.template_body(off, "block");
            self.depth -= 1;
            self.add_definition(off, name.clone(), body?)?;
        }
        Ok(Node::Template { off, name, pipe })
    }

    /// The body of a `define` or `block`, up to its `{{end}}`, in a scope of its own.
    fn template_body(&mut self, off: usize, keyword: &str) -> Result<Vec<Node>, TemplateError> {
        let vars = std::mem::replace(&mut self.vars, vec!["$".to_owned()]);
        let (ranges, in_define) = (self.ranges, self.in_define);
        (self.ranges, self.in_define) = (0, true);
        let body = self.list();
        (self.vars, self.ranges, self.in_define) = (vars, ranges, in_define);
        match body? {
            (nodes, ListEnd::Action) => Ok(nodes),
            (_, ListEnd::Eof) => {
                Err(self.err(off, format!("unexpected EOF: {keyword:?} has no {{{{end}}}}")))
            }
            (_, ListEnd::Else { off, .. }) => Err(self.err(off, "unexpected {{else}}")),
        }
    }

    /// Go keeps the later of two definitions when one of them is empty, and refuses two bodies.
    fn add_definition(&mut self, off: usize, name: String, body: Vec<Node>) -> Result<(), TemplateError> {
        let blank = |nodes: &[Node]| {
            nodes
                .iter()
                .all(|n| matches!(n, Node::Text(t) if t.trim().is_empty()))
        };
        match self.defs.get(&name) {
            Some(old) if !blank(old) && !blank(&body) => {
                Err(self.err(off, format!("template: multiple definition of template {name:?}")))
            }
            Some(old) if blank(&body) && !blank(old) => Ok(()),
            _ => {
                self.defs.insert(name, body);
                Ok(())
            }
        }
    }

    /// A whole action's pipeline, with an optional declaration.
    fn pipeline(&mut self, toks: &[Tok], off: usize, range: bool) -> Result<Pipe, TemplateError> {
        let mut decl = Vec::new();
        let mut assign = false;
        let mut rest = toks;
        if let [
            Tok {
                kind: TokKind::Var(v),
                ..
            },
            next,
            ..,
        ] = toks
        {
            match &next.kind {
                TokKind::Declare => {
                    decl.push(v.clone());
                    rest = &toks[2..];
                }
                TokKind::Assign if !range => {
                    if !self.vars.iter().any(|d| d == v) {
                        return Err(self.err(toks[0].off, format!("undefined variable {v:?}")));
                    }
                    decl.push(v.clone());
                    assign = true;
                    rest = &toks[2..];
                }
                TokKind::Assign => {
                    return Err(self.err(next.off, "range can only initialize variables with \":=\""));
                }
                TokKind::Comma if range => {
                    if let [
                        _,
                        _,
                        Tok {
                            kind: TokKind::Var(v2),
                            ..
                        },
                        Tok {
                            kind: TokKind::Declare,
                            ..
                        },
                        ..,
                    ] = toks
                    {
                        decl.push(v.clone());
                        decl.push(v2.clone());
                        rest = &toks[4..];
                    } else {
                        return Err(
                            self.err(next.off, "range can only initialize variables as \"$k, $v :=\"")
                        );
                    }
                }
                _ => {}
            }
        }
        let mut cur = Cursor { toks: rest, i: 0 };
        let pipe_off = rest.first().map_or(off, |t| t.off);
        let cmds = self.commands(&mut cur, pipe_off, false)?;
        if let Some(t) = cur.peek() {
            return Err(self.err(t.off, format!("unexpected {} in command", t.kind.describe())));
        }
        for v in &decl {
            if v == "$" {
                return Err(self.err(off, "cannot declare \"$\""));
            }
        }
        if !assign {
            self.vars.extend(decl.iter().cloned());
        }
        Ok(Pipe { decl, assign, cmds })
    }

    /// Commands separated by `|`, until the end of the tokens or (inside parentheses) a `)`.
    fn commands(&mut self, cur: &mut Cursor<'_>, off: usize, paren: bool) -> Result<Vec<Cmd>, TemplateError> {
        let mut cmds = Vec::new();
        loop {
            let cmd_off = cur.peek().map_or(off, |t| t.off);
            let mut args = Vec::new();
            while let Some(t) = cur.peek() {
                if matches!(t.kind, TokKind::Pipe | TokKind::RParen) {
                    break;
                }
                if !args.is_empty() && !t.space_before {
                    return Err(self.err(t.off, format!("unexpected {} in operand", t.kind.describe())));
                }
                args.push(self.operand(cur, args.is_empty())?);
            }
            if args.is_empty() {
                return Err(self.err(cmd_off, "missing value for command"));
            }
            let stage = cmds.len();
            self.check_command(&args, cmd_off, stage)?;
            cmds.push(Cmd { off: cmd_off, args });
            match cur.peek().map(|t| &t.kind) {
                Some(TokKind::Pipe) => {
                    cur.i += 1;
                }
                Some(TokKind::RParen) if paren => {
                    cur.i += 1;
                    return Ok(cmds);
                }
                Some(TokKind::RParen) => {
                    let t = cur.peek().map_or(off, |t| t.off);
                    return Err(self.err(t, "unexpected right paren"));
                }
                None if paren => return Err(self.err(off, "unclosed left paren")),
                _ => return Ok(cmds),
            }
        }
    }

    fn check_command(&self, args: &[Expr], off: usize, stage: usize) -> Result<(), TemplateError> {
        let piped = usize::from(stage > 0);
        match &args[0] {
            Expr::Func { off, func } => func
                .check_arity(args.len() - 1 + piped)
                .map_err(|m| self.err(*off, m)),
            Expr::Lit(_) | Expr::Nil { .. } | Expr::Dot if stage > 0 => Err(self.err(
                off,
                format!("non executable command in pipeline stage {}", stage + 1),
            )),
            Expr::Nil { off } if args.len() == 1 => Err(self.err(*off, "nil is not a command")),
            _ if args.len() > 1 || stage > 0 => Err(self.err(off, "can't give argument to non-function")),
            _ => Ok(()),
        }
    }

    fn operand(&mut self, cur: &mut Cursor<'_>, head: bool) -> Result<Expr, TemplateError> {
        let Some(tok) = cur.next() else {
            return Err(self.err(self.src.len(), "missing operand"));
        };
        let off = tok.off;
        let term = match &tok.kind {
            TokKind::Field(name) => {
                let mut names = vec![name.clone()];
                names.extend(self.fields(cur));
                return Ok(Expr::Field { off, names });
            }
            TokKind::Var(name) => {
                if !self.vars.iter().any(|v| v == name) {
                    return Err(self.err(off, format!("undefined variable {name:?}")));
                }
                let names = self.fields(cur);
                return Ok(Expr::Var {
                    off,
                    name: name.clone(),
                    names,
                });
            }
            TokKind::Ident(name) => {
                let func = Func::lookup(name)
                    .ok_or_else(|| self.err(off, format!("function {name:?} is not supported")))?;
                if !head {
                    func.check_arity(0).map_err(|m| self.err(off, m))?;
                }
                Expr::Func { off, func }
            }
            TokKind::Str(s) => Expr::Lit(Value::String(s.clone())),
            TokKind::Number(n) => Expr::Lit(n.clone()),
            TokKind::Bool(b) => Expr::Lit(Value::Bool(*b)),
            TokKind::Nil => Expr::Nil { off },
            TokKind::Dot => Expr::Dot,
            TokKind::LParen => {
                self.enter(off)?;
                let cmds = self.commands(cur, off, true);
                self.depth -= 1;
                let cmds = cmds?;
                Expr::Paren(Box::new(Pipe {
                    decl: Vec::new(),
                    assign: false,
                    cmds,
                }))
            }
            TokKind::Keyword(k) => {
                return Err(self.err(off, format!("{:?} is not supported here", k.name())));
            }
            other => return Err(self.err(off, format!("unexpected {} in operand", other.describe()))),
        };
        let names = self.fields(cur);
        if names.is_empty() {
            return Ok(term);
        }
        if let Expr::Func { off, func } = &term {
            // `f.Field` calls f with no arguments, wherever it stands (found by the fuzzer: the
            // head-of-command exemption let `{{toJSON.Data}}` call toJSON with none).
            func.check_arity(0).map_err(|m| self.err(*off, m))?;
        }
        match term {
            Expr::Func { .. } | Expr::Paren(_) => Ok(Expr::Chain {
                off,
                base: Box::new(term),
                names,
            }),
            _ => Err(self.err(off, "unexpected . after term")),
        }
    }

    /// Field names directly attached (no space) to the previous token.
    fn fields(&self, cur: &mut Cursor<'_>) -> Vec<String> {
        let mut names = Vec::new();
        while let Some(Tok {
            kind: TokKind::Field(n),
            space_before: false,
            ..
        }) = cur.peek()
        {
            names.push(n.clone());
            cur.i += 1;
        }
        names
    }
}

struct Cursor<'t> {
    toks: &'t [Tok],
    i: usize,
}

impl<'t> Cursor<'t> {
    fn peek(&self) -> Option<&'t Tok> {
        self.toks.get(self.i)
    }

    fn next(&mut self) -> Option<&'t Tok> {
        let t = self.toks.get(self.i);
        self.i += 1;
        t
    }
}
