//! Reading the Terraform of `infra/` without Terraform: the HCL is parsed (hcl-rs) and the few
//! expression shapes the modules use are resolved (`local.x`, `merge(...)`, object literals,
//! `toset([...])`, references such as `google_service_account.api.email`). Anything else is a
//! test failure naming the expression, so the modules cannot drift into a shape these checks
//! silently misread.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hcl::{Block, Body, Expression, ObjectKey};

pub fn infra_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra")
}

/// Every `*.tf` file of one directory (symlinks followed), parsed, as one module.
pub struct Module {
    pub dir: PathBuf,
    pub blocks: Vec<Block>,
}

impl Module {
    pub fn load(relative: &str) -> Self {
        let dir = infra_dir().join(relative);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "tf"))
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no .tf file in {}", dir.display());
        let mut blocks = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            let body: Body =
                hcl::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            blocks.extend(body.blocks().cloned());
        }
        Self { dir, blocks }
    }

    /// `resource "<kind>" "<name>"` blocks: (kind, name, body).
    pub fn resources(&self) -> impl Iterator<Item = (&str, &str, &Body)> {
        self.blocks
            .iter()
            .filter(|b| b.identifier.as_str() == "resource" && b.labels.len() == 2)
            .map(|b| (b.labels[0].as_str(), b.labels[1].as_str(), &b.body))
    }

    pub fn resource(&self, kind: &str, name: &str) -> &Body {
        self.resources()
            .find(|(k, n, _)| *k == kind && *n == name)
            .map(|(_, _, body)| body)
            .unwrap_or_else(|| panic!("{}: no resource {kind}.{name}", self.dir.display()))
    }

    pub fn module_call(&self, name: &str) -> &Body {
        self.blocks
            .iter()
            .find(|b| {
                b.identifier.as_str() == "module"
                    && b.labels.first().map(|l| l.as_str()) == Some(name)
            })
            .map(|b| &b.body)
            .unwrap_or_else(|| panic!("{}: no module {name:?}", self.dir.display()))
    }

    pub fn local(&self, name: &str) -> &Expression {
        self.blocks
            .iter()
            .filter(|b| b.identifier.as_str() == "locals")
            .find_map(|b| attr(&b.body, name))
            .unwrap_or_else(|| panic!("{}: no local.{name}", self.dir.display()))
    }

    /// The keys of an object-valued expression, each with its value: object literals,
    /// `local.<name>`, and `merge(a, b, …)` of those (later keys win, as in Terraform).
    pub fn object(&self, expr: &Expression) -> BTreeMap<String, Expression> {
        match expr {
            Expression::Object(object) => object
                .iter()
                .map(|(k, v)| (key_name(k), v.clone()))
                .collect(),
            Expression::FuncCall(call) if call.name.name.as_str() == "merge" => {
                let mut merged = BTreeMap::new();
                for arg in &call.args {
                    merged.extend(self.object(arg));
                }
                merged
            }
            other => match local_name(other) {
                Some(name) => self.object(self.local(&name)),
                None => panic!("cannot read {other} as an object"),
            },
        }
    }

    /// The strings of `["a", "b"]`, `toset([...])` or `local.<name>` holding one of those.
    pub fn strings(&self, expr: &Expression) -> Vec<String> {
        match expr {
            Expression::Array(items) => items
                .iter()
                .map(|e| string(e).unwrap_or_else(|| panic!("{e} is not a string literal")))
                .collect(),
            Expression::FuncCall(call) if call.name.name.as_str() == "toset" => {
                self.strings(&call.args[0])
            }
            other => match local_name(other) {
                Some(name) => self.strings(self.local(&name)),
                None => panic!("cannot read {other} as a list of strings"),
            },
        }
    }
}

pub fn attr<'a>(body: &'a Body, key: &str) -> Option<&'a Expression> {
    body.attributes().find(|a| a.key() == key).map(|a| a.expr())
}

pub fn required<'a>(body: &'a Body, key: &str) -> &'a Expression {
    attr(body, key).unwrap_or_else(|| panic!("attribute {key} missing"))
}

pub fn blocks<'a>(body: &'a Body, identifier: &'a str) -> impl Iterator<Item = &'a Block> {
    body.blocks()
        .filter(move |b| b.identifier.as_str() == identifier)
}

/// The body of the first `identifier { … }` block in `body`.
pub fn block<'a>(body: &'a Body, identifier: &str) -> &'a Body {
    body.blocks()
        .find(|b| b.identifier.as_str() == identifier)
        .map(|b| &b.body)
        .unwrap_or_else(|| panic!("no {identifier} block"))
}

pub fn string(expr: &Expression) -> Option<String> {
    match expr {
        Expression::String(s) => Some(s.clone()),
        _ => None,
    }
}

fn key_name(key: &ObjectKey) -> String {
    match key {
        ObjectKey::Identifier(id) => id.to_string(),
        ObjectKey::Expression(e) => string(e).unwrap_or_else(|| e.to_string()),
        other => other.to_string(),
    }
}

/// `local.<name>` → `<name>`.
fn local_name(expr: &Expression) -> Option<String> {
    let text = expr.to_string();
    let name = text.strip_prefix("local.")?;
    name.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_')
        .then(|| name.to_owned())
}

/// The label of the first `<kind>.<label>` reference in an expression's source text, e.g.
/// `google_service_account` in `"serviceAccount:${google_service_account.api.email}"` → `api`.
pub fn reference(expr: &Expression, kind: &str) -> Option<String> {
    let text = expr.to_string();
    let start = text.find(&format!("{kind}."))? + kind.len() + 1;
    let label: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!label.is_empty()).then_some(label)
}
