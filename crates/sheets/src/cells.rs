//! The domain's typed cells as Sheets v4 `CellData`, and the requests that carry them.
//!
//! Every value is a typed `userEnteredValue` (`stringValue`, `numberValue`, `boolValue`): a
//! `stringValue` is stored as the literal text, so `=HYPERLINK(…)` stays text (no formula
//! injection) and `+52 999…` or `01/05/2026, 10:00:00` are not reinterpreted as numbers or
//! dates, which the older system's `USER_ENTERED` tab did. `fields="*"` on the appended rows is
//! the reference's choice, kept so the staff tables look as they do today.

use domain::sheets::Cell;
use serde_json::{Value, json};

pub(crate) fn cell_data(cell: &Cell) -> Value {
    match cell {
        Cell::Empty => json!({}),
        Cell::Bool(b) => json!({ "userEnteredValue": { "boolValue": b } }),
        Cell::Number(n) => json!({ "userEnteredValue": { "numberValue": n } }),
        Cell::Text(s) => json!({ "userEnteredValue": { "stringValue": s } }),
    }
}

fn row_data(rows: &[Vec<Cell>]) -> Vec<Value> {
    rows.iter()
        .map(|row| {
            if row.is_empty() {
                json!({})
            } else {
                json!({ "values": row.iter().map(cell_data).collect::<Vec<_>>() })
            }
        })
        .collect()
}

/// Rows appended to the body of a table (the table grows; rows below it move down).
pub(crate) fn append_cells(sheet_id: i32, table_id: &str, rows: &[Vec<Cell>]) -> Value {
    json!({
        "appendCells": {
            "sheetId": sheet_id,
            "tableId": table_id,
            "rows": row_data(rows),
            "fields": "*",
        }
    })
}

/// A new tab with the given id and title, and its rows from A1.
pub(crate) fn sheet_request(sheet_id: i32, title: &str, rows: &[Vec<Cell>]) -> [Value; 2] {
    [
        json!({ "addSheet": { "properties": { "sheetId": sheet_id, "title": title } } }),
        json!({
            "updateCells": {
                "start": { "sheetId": sheet_id, "rowIndex": 0, "columnIndex": 0 },
                "rows": row_data(rows),
                "fields": "userEnteredValue",
            }
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_typed_and_text_stays_literal() {
        assert_eq!(cell_data(&Cell::Empty), json!({}));
        assert_eq!(
            cell_data(&Cell::Bool(false)),
            json!({"userEnteredValue": {"boolValue": false}})
        );
        assert_eq!(
            cell_data(&Cell::Number(17)),
            json!({"userEnteredValue": {"numberValue": 17}})
        );
        for text in ["=HYPERLINK(\"x\")", "+529991234567", "01/05/2026, 10:00:00"] {
            assert_eq!(
                cell_data(&Cell::Text(text.into())),
                json!({"userEnteredValue": {"stringValue": text}})
            );
        }
    }

    #[test]
    fn an_empty_row_is_an_empty_row_data() {
        let v = append_cells(3, "tbl", &[vec![], vec![Cell::Number(1)]]);
        assert_eq!(v["appendCells"]["rows"][0], json!({}));
        assert_eq!(v["appendCells"]["sheetId"], 3);
        assert_eq!(v["appendCells"]["tableId"], "tbl");
        assert_eq!(v["appendCells"]["fields"], "*");
    }
}
