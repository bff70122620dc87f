//! The fake's sheet state: spreadsheets (`Book`), their tabs (`Tab`, a grid of cell values) and
//! tables (`Table`, a band of whole rows), the staff edits [`SheetsFake`] offers, and how the
//! API shows them: trimming of empty cells, A1 names and the spreadsheet resource JSON.

use super::SheetsFake;
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub(super) struct Table {
    pub(super) id: String,
    /// Rows `[start, end)`, header included, from column `col` rightwards.
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) col: usize,
}

#[derive(Debug, Clone)]
pub(super) struct Tab {
    pub(super) sheet_id: i32,
    pub(super) title: String,
    pub(super) grid: Vec<Vec<Value>>,
    pub(super) tables: Vec<Table>,
}

#[derive(Debug, Clone)]
pub(super) struct Book {
    pub(super) shared: bool,
    pub(super) tabs: Vec<Tab>,
}

impl Book {
    pub(super) fn tab_mut(&mut self, sheet_id: i32) -> Option<&mut Tab> {
        self.tabs.iter_mut().find(|t| t.sheet_id == sheet_id)
    }

    pub(super) fn add_tab(&mut self, sheet_id: i32, title: &str) -> Result<usize, String> {
        if self.tabs.iter().any(|t| t.sheet_id == sheet_id) {
            return Err(format!("A sheet with the id {sheet_id} already exists."));
        }
        if title.is_empty() || title.encode_utf16().count() > 100 {
            return Err("The sheet name must be between 1 and 100 characters.".into());
        }
        let lower = title.to_lowercase();
        if self.tabs.iter().any(|t| t.title.to_lowercase() == lower) {
            return Err(format!(
                "A sheet with the name \"{title}\" already exists. Please enter another name."
            ));
        }
        self.tabs.push(Tab {
            sheet_id,
            title: title.to_string(),
            grid: vec![],
            tables: vec![],
        });
        Ok(self.tabs.len() - 1)
    }
}

impl Tab {
    /// Rows up to and including the last one holding a value.
    pub(super) fn used_rows(&self) -> usize {
        self.grid
            .iter()
            .rposition(|r| r.iter().any(|c| !is_empty(c)))
            .map_or(0, |i| i + 1)
    }

    pub(super) fn set_row(&mut self, r: usize, c: usize, cells: Vec<Value>) {
        if cells.is_empty() {
            return;
        }
        if self.grid.len() <= r {
            self.grid.resize(r + 1, vec![]);
        }
        let row = &mut self.grid[r];
        if row.len() < c + cells.len() {
            row.resize(c + cells.len(), Value::Null);
        }
        for (k, v) in cells.into_iter().enumerate() {
            row[c + k] = v;
        }
    }

    /// Rows inserted at `at`: tables starting at or below move down, a table `at` falls inside
    /// grows, and so does table `grow` when `at` is its end.
    pub(super) fn insert_rows(&mut self, at: usize, rows: Vec<Vec<Value>>, grow: Option<usize>) {
        let n = rows.len();
        if self.grid.len() < at {
            self.grid.resize(at, vec![]);
        }
        self.grid.splice(at..at, rows);
        for (i, t) in self.tables.iter_mut().enumerate() {
            if t.start >= at {
                t.start += n;
                t.end += n;
            } else if at < t.end || (at == t.end && grow == Some(i)) {
                t.end += n;
            }
        }
    }

    fn table_body(&mut self, t: usize) -> &mut [Vec<Value>] {
        let (start, end) = (self.tables[t].start, self.tables[t].end);
        if self.grid.len() < end {
            self.grid.resize(end, vec![]);
        }
        &mut self.grid[start + 1..end]
    }

    fn tables_json(&self) -> Vec<Value> {
        let json = |t: &Table| {
            let range = json!({
                "sheetId": self.sheet_id,
                "startRowIndex": t.start,
                "endRowIndex": t.end,
                "startColumnIndex": t.col,
                "endColumnIndex": self.grid.get(t.start).map_or(t.col, Vec::len),
            });
            json!({"tableId": t.id, "name": t.id, "range": range})
        };
        self.tables.iter().map(json).collect()
    }

    pub(super) fn properties(&self, index: usize) -> Value {
        let cols = self.grid.iter().map(Vec::len).max().unwrap_or(0).max(26);
        json!({
            "sheetId": self.sheet_id, "title": self.title, "index": index, "sheetType": "GRID",
            "gridProperties": {"rowCount": self.grid.len().max(1000), "columnCount": cols},
        })
    }
}

impl SheetsFake {
    /// A staff edit: a new row at `index` (inside a table → the table grows; at or above its
    /// header → the table moves down).
    pub fn insert_row(&self, spreadsheet: &str, sheet_id: i32, index: usize, cells: Vec<Value>) {
        self.with_tab(spreadsheet, sheet_id, |tab| {
            tab.insert_rows(index, vec![cells], None)
        });
    }

    /// A staff edit: row `index` deleted (tables shrink or move up).
    pub fn delete_row(&self, spreadsheet: &str, sheet_id: i32, index: usize) {
        self.with_tab(spreadsheet, sheet_id, |tab| {
            if index < tab.grid.len() {
                tab.grid.remove(index);
            }
            for t in &mut tab.tables {
                if index < t.start {
                    t.start -= 1;
                    t.end -= 1;
                } else if index < t.end {
                    t.end -= 1;
                }
            }
            tab.tables.retain(|t| t.end > t.start);
        });
    }

    /// A staff edit: the table's data rows sorted by its `column` (counted from the table's
    /// first column; compared as text); header stays.
    pub fn sort_table(&self, spreadsheet: &str, table_id: &str, column: usize, descending: bool) {
        self.with_table(spreadsheet, table_id, |tab, t| {
            let column = tab.tables[t].col + column;
            let body = tab.table_body(t);
            body.sort_by(|a, b| {
                let key = |r: &Vec<Value>| text(r.get(column).unwrap_or(&Value::Null));
                let o = key(a).cmp(&key(b));
                if descending { o.reverse() } else { o }
            });
        });
    }

    /// A staff edit: the table's data rows in reverse order; header stays.
    pub fn reverse_table(&self, spreadsheet: &str, table_id: &str) {
        self.with_table(spreadsheet, table_id, |tab, t| tab.table_body(t).reverse());
    }

    /// A staff edit: an empty column at `index` (cells at or right of it move right, and so do
    /// tables starting there; a column inserted inside a table widens it).
    pub fn insert_column(&self, spreadsheet: &str, sheet_id: i32, index: usize) {
        self.with_tab(spreadsheet, sheet_id, |tab| {
            for row in tab.grid.iter_mut().filter(|r| r.len() > index) {
                row.insert(index, Value::Null);
            }
            for t in tab.tables.iter_mut().filter(|t| t.col >= index) {
                t.col += 1;
            }
        });
    }

    /// A staff edit: the tab renamed.
    pub fn rename_sheet(&self, spreadsheet: &str, sheet_id: i32, title: &str) {
        self.with_tab(spreadsheet, sheet_id, |tab| tab.title = title.to_string());
    }
}

fn is_empty(v: &Value) -> bool {
    v.is_null() || v.as_str() == Some("")
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(true) => "TRUE".into(),
        Value::Bool(false) => "FALSE".into(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

pub(super) fn trim_row(row: &[Value], formatted: bool) -> Vec<Value> {
    let n = row.iter().rposition(|c| !is_empty(c)).map_or(0, |i| i + 1);
    row[..n]
        .iter()
        .map(|c| match c {
            Value::Null => json!(""),
            Value::Number(_) | Value::Bool(_) if formatted => json!(text(c)),
            other => other.clone(),
        })
        .collect()
}

pub(super) fn trim_grid(grid: &[Vec<Value>], formatted: bool) -> Vec<Vec<Value>> {
    let n = grid
        .iter()
        .rposition(|r| r.iter().any(|c| !is_empty(c)))
        .map_or(0, |i| i + 1);
    grid[..n].iter().map(|r| trim_row(r, formatted)).collect()
}

pub(super) fn col_name(mut n: usize) -> String {
    let mut s = Vec::new();
    while n > 0 {
        n -= 1;
        s.push(b'A' + (n % 26) as u8);
        n /= 26;
    }
    s.reverse();
    String::from_utf8(s).unwrap_or_default()
}

pub(super) fn quoted(title: &str) -> String {
    format!("'{}'", title.replace('\'', "''"))
}

/// The tab title of a whole-sheet A1 range: `'Ti''tle'`, `Title`, optionally with `!A:ZZ`.
pub(super) fn range_title(range: &str) -> Option<String> {
    let Some(rest) = range.strip_prefix('\'') else {
        let title = range.split('!').next().unwrap_or("");
        return (!title.is_empty()).then(|| title.to_string());
    };
    let mut title = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\'' {
            title.push(c);
        } else if chars.peek() == Some(&'\'') {
            chars.next();
            title.push('\'');
        } else {
            let tail: String = chars.collect();
            return (tail.is_empty() || tail.starts_with('!')).then_some(title);
        }
    }
    None
}

pub(super) fn spreadsheet_json(id: &str, book: &Book, with_tables: bool) -> Value {
    let sheets: Vec<Value> = book
        .tabs
        .iter()
        .enumerate()
        .map(|(i, tab)| {
            let mut s = json!({"properties": tab.properties(i)});
            if with_tables && !tab.tables.is_empty() {
                s["tables"] = json!(tab.tables_json());
            }
            s
        })
        .collect();
    json!({"spreadsheetId": id, "sheets": sheets})
}
