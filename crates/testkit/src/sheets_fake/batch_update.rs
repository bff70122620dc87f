//! The body of a `:batchUpdate`: validated like the real proto JSON parser (unknown fields,
//! wrong types and oneofs refused with the API's messages) and applied to a `Book`. The caller
//! applies it to a copy and keeps the copy only if every request succeeded.

use super::grid::{Book, Tab};
use serde_json::{Map, Value, json};

type Res<T> = Result<T, String>;

fn snake(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let lower = c.to_ascii_lowercase();
            (c.is_ascii_uppercase().then_some('_').into_iter()).chain([lower])
        })
        .collect()
}

/// The object at `at` (a proto path), refusing keys outside `allowed`.
fn obj<'a>(v: &'a Value, at: &str, allowed: &[&str]) -> Res<&'a Map<String, Value>> {
    let o = v
        .as_object()
        .ok_or_else(|| format!("Invalid value at '{at}', expected an object: {v}"))?;
    match o.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(format!(
            "Invalid JSON payload received. Unknown name \"{k}\" at '{at}': Cannot find field."
        )),
        None => Ok(o),
    }
}

fn field<'a>(o: &'a Map<String, Value>, k: &str) -> Option<&'a Value> {
    o.get(k).filter(|v| !v.is_null())
}

fn int(o: &Map<String, Value>, k: &str, at: &str) -> Res<Option<i32>> {
    let Some(v) = field(o, k) else {
        return Ok(None);
    };
    let n = match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    };
    n.and_then(|n| i32::try_from(n).ok())
        .map(Some)
        .ok_or_else(|| format!("Invalid value at '{at}.{}' (TYPE_INT32), {v}", snake(k)))
}

fn string<'a>(o: &'a Map<String, Value>, k: &str, at: &str) -> Res<Option<&'a str>> {
    match field(o, k) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(v) => Err(format!(
            "Invalid value at '{at}.{}' (TYPE_STRING), {v}",
            snake(k)
        )),
    }
}

fn cell(v: &Value, at: &str) -> Res<Value> {
    let o = obj(v, at, &["userEnteredValue"])?;
    let Some(value) = field(o, "userEnteredValue") else {
        return Ok(Value::Null);
    };
    let at = format!("{at}.user_entered_value");
    let e = obj(value, &at, &["stringValue", "numberValue", "boolValue"])?;
    if e.len() > 1 {
        return Err(format!(
            "Invalid value at '{at}' (oneof), oneof field 'value' is already set."
        ));
    }
    match e.iter().next().map(|(k, v)| (k.as_str(), v)) {
        None => Ok(Value::Null),
        Some(("stringValue", Value::String(s))) if s.is_empty() => Ok(Value::Null),
        Some(("stringValue", v @ Value::String(_)))
        | Some(("numberValue", v @ Value::Number(_)))
        | Some(("boolValue", v @ Value::Bool(_))) => Ok(v.clone()),
        Some((k, v)) => Err(format!("Invalid value at '{at}.{}', {v}", snake(k))),
    }
}

/// `RowData`s as cell values (`Null` = an empty cell); none written unless `fields` covers
/// `userEnteredValue`.
fn rows(o: &Map<String, Value>, at: &str, fields: &str) -> Res<Vec<Vec<Value>>> {
    let at = format!("{at}.rows");
    let list = match field(o, "rows") {
        None => return Ok(vec![]),
        Some(Value::Array(a)) => a,
        Some(v) => return Err(format!("Invalid value at '{at}', expected a list: {v}")),
    };
    let write = fields
        .split(',')
        .map(str::trim)
        .any(|f| f == "*" || f == "userEnteredValue" || f.starts_with("userEnteredValue."));
    let mut out = vec![];
    for (r, row) in list.iter().enumerate() {
        let at = format!("{at}[{r}]");
        let cells = match field(obj(row, &at, &["values"])?, "values") {
            None => vec![],
            Some(Value::Array(cells)) => cells
                .iter()
                .enumerate()
                .map(|(c, v)| cell(v, &format!("{at}.values[{c}]")))
                .collect::<Res<Vec<_>>>()?,
            Some(v) => {
                return Err(format!(
                    "Invalid value at '{at}.values', expected a list: {v}"
                ));
            }
        };
        out.push(if write { cells } else { vec![] });
    }
    Ok(out)
}

fn required_fields<'a>(o: &'a Map<String, Value>, at: &str, what: &str) -> Res<&'a str> {
    match string(o, "fields", at)? {
        Some(f) if !f.trim().is_empty() => Ok(f),
        _ => Err(format!(
            "Invalid {what}: At least one field must be specified in 'fields'."
        )),
    }
}

pub(super) fn apply(book: &mut Book, body: &Value) -> Res<(Vec<Value>, bool)> {
    let top = obj(body, "", &["requests", "includeSpreadsheetInResponse"])?;
    let include = match field(top, "includeSpreadsheetInResponse") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(v) => {
            return Err(format!(
                "Invalid value at 'include_spreadsheet_in_response' (TYPE_BOOL), {v}"
            ));
        }
    };
    let requests = match field(top, "requests") {
        Some(Value::Array(a)) if !a.is_empty() => a,
        Some(Value::Array(_)) | None => return Err("Must specify at least one request.".into()),
        Some(v) => return Err(format!("Invalid value at 'requests', expected a list: {v}")),
    };
    let mut replies = vec![];
    for (i, request) in requests.iter().enumerate() {
        let at = format!("requests[{i}]");
        let o = obj(request, &at, &["addSheet", "appendCells", "updateCells"])?;
        let mut kinds = o.iter().filter(|(_, v)| !v.is_null());
        let (Some((kind, v)), None) = (kinds.next(), kinds.next()) else {
            return Err(format!(
                "Invalid {at}: exactly one kind of request must be set."
            ));
        };
        // `what` names the request in semantic errors, `at` is its proto path.
        let what = format!("{at}.{kind}");
        let at = format!("{at}.{}", snake(kind));
        replies.push(match kind.as_str() {
            "addSheet" => add_sheet(book, v, &at, &what)?,
            "appendCells" => append_cells(book, v, &at, &what)?,
            _ => update_cells(book, v, &at, &what)?,
        });
    }
    Ok((replies, include))
}

fn add_sheet(book: &mut Book, v: &Value, at: &str, what: &str) -> Res<Value> {
    let o = obj(v, at, &["properties"])?;
    let at = format!("{at}.properties");
    let empty = json!({});
    let p = obj(
        field(o, "properties").unwrap_or(&empty),
        &at,
        &["sheetId", "title"],
    )?;
    let next = book.tabs.iter().map(|t| t.sheet_id).max().unwrap_or(0) + 1;
    let sheet_id = int(p, "sheetId", &at)?.unwrap_or(next);
    let title = match string(p, "title", &at)? {
        Some(t) => t.to_string(),
        None => format!("Sheet{}", book.tabs.len() + 1),
    };
    let index = book
        .add_tab(sheet_id, &title)
        .map_err(|e| format!("Invalid {what}: {e}"))?;
    Ok(json!({"addSheet": {"properties": book.tabs[index].properties(index)}}))
}

fn grid<'a>(book: &'a mut Book, sheet_id: i32, what: &str) -> Res<&'a mut Tab> {
    book.tab_mut(sheet_id)
        .ok_or_else(|| format!("Invalid {what}: No grid with id: {sheet_id}"))
}

fn append_cells(book: &mut Book, v: &Value, at: &str, what: &str) -> Res<Value> {
    let o = obj(v, at, &["sheetId", "tableId", "rows", "fields"])?;
    let fields = required_fields(o, at, what)?;
    let sheet_id = int(o, "sheetId", at)?.unwrap_or(0);
    let table = string(o, "tableId", at)?;
    let new_rows = rows(o, at, fields)?;
    let tab = grid(book, sheet_id, what)?;
    let Some(table) = table else {
        // After the last row holding a value, from column A.
        let start = tab.used_rows();
        for (k, row) in new_rows.into_iter().enumerate() {
            tab.set_row(start + k, 0, row);
        }
        return Ok(json!({}));
    };
    let Some(t) = tab.tables.iter().position(|t| t.id == table) else {
        return Err(format!(
            "Invalid {what}: No table with id: {table} in sheet {sheet_id}"
        ));
    };
    // Inserted right after the table's last row, in its columns: the table grows and the rows
    // below it move down.
    let (end, col) = (tab.tables[t].end, tab.tables[t].col);
    let new_rows = new_rows.into_iter().map(|r| {
        let mut cells = vec![Value::Null; col];
        cells.extend(r);
        cells
    });
    tab.insert_rows(end, new_rows.collect(), Some(t));
    Ok(json!({}))
}

fn update_cells(book: &mut Book, v: &Value, at: &str, what: &str) -> Res<Value> {
    let o = obj(v, at, &["start", "rows", "fields"])?;
    let fields = required_fields(o, at, what)?;
    let Some(start) = field(o, "start") else {
        return Err(format!(
            "Invalid {what}: Must specify either start or range."
        ));
    };
    let sat = format!("{at}.start");
    let s = obj(start, &sat, &["sheetId", "rowIndex", "columnIndex"])?;
    let sheet_id = int(s, "sheetId", &sat)?.unwrap_or(0);
    let r = int(s, "rowIndex", &sat)?.unwrap_or(0);
    let c = int(s, "columnIndex", &sat)?.unwrap_or(0);
    let (Ok(r), Ok(c)) = (usize::try_from(r), usize::try_from(c)) else {
        return Err(format!("Invalid {what}: start must not be negative."));
    };
    let new_rows = rows(o, at, fields)?;
    let tab = grid(book, sheet_id, what)?;
    for (k, row) in new_rows.into_iter().enumerate() {
        tab.set_row(r + k, c, row);
    }
    Ok(json!({}))
}
