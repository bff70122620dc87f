use super::*;

const SS: &str = "ss-1";

fn str_cell(s: &str) -> Value {
    json!({"userEnteredValue": {"stringValue": s}})
}

async fn fake_with(config: FakeConfig) -> SheetsFake {
    let fake = SheetsFake::start_with(config).await;
    fake.add_spreadsheet(SS);
    fake.add_sheet(SS, 7, "Registros");
    fake.add_table(SS, 7, "tbl", &["id", "nombre"]);
    fake
}

async fn update(fake: &SheetsFake, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/v4/spreadsheets/{SS}:batchUpdate", fake.url()))
        .bearer_auth(&fake.config().access_token)
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn append(table: &str, id: &str) -> Value {
    json!({"appendCells": {"sheetId": 7, "tableId": table, "fields": "*",
        "rows": [{"values": [str_cell(id), str_cell("x")]}]}})
}

#[tokio::test]
async fn the_token_endpoint_accepts_the_refresh_token_as_json_or_form_and_refuses_others() {
    let fake = SheetsFake::start().await;
    let creds: Value = serde_json::from_str(&fake.authorized_user_json()).unwrap();
    let uri = creds["token_uri"].as_str().unwrap();
    let client = reqwest::Client::new();
    let ok: Value = client
        .post(uri)
        .json(
            &json!({"grant_type": "refresh_token", "client_id": creds["client_id"],
            "client_secret": creds["client_secret"], "refresh_token": creds["refresh_token"]}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ok["access_token"], "ya29.fake-sheets-token");
    assert_eq!(ok["token_type"], "Bearer");
    let bad = client
        .post(uri)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=refresh_token&client_id=c&client_secret=s&refresh_token=1%2F%2Fwrong")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(bad.json::<Value>().await.unwrap()["error"], "invalid_grant");
    assert_eq!(fake.stats().token_requests, 2);
}

#[tokio::test]
async fn a_request_without_the_bearer_token_is_401_unauthenticated() {
    let fake = fake_with(FakeConfig::default()).await;
    let r = reqwest::get(format!("{}/v4/spreadsheets/{SS}", fake.url()))
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["status"], "UNAUTHENTICATED");
    assert_eq!(fake.stats().reads, 0);
}

#[tokio::test]
async fn add_sheet_update_and_append_land_together_and_batch_get_trims_like_the_api() {
    let fake = fake_with(FakeConfig::default()).await;
    let (status, body) = update(
        &fake,
        json!({"requests": [
            {"addSheet": {"properties": {"sheetId": 9, "title": "O'Brien"}}},
            {"updateCells": {"start": {"sheetId": 9, "rowIndex": 0, "columnIndex": 0},
                "fields": "userEnteredValue", "rows": [
                {"values": [str_cell("a"), {}, {"userEnteredValue": {"numberValue": 2.5}}, {}]},
                {},
                {"values": [{"userEnteredValue": {"boolValue": true}}]},
                {"values": [{}]}]}},
            {"appendCells": {"sheetId": 9, "fields": "*",
                "rows": [{"values": [str_cell("=1+1")]}]}},
        ]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["replies"][0]["addSheet"]["properties"]["sheetId"], 9);
    assert_eq!(body["replies"][1], json!({}));
    assert_eq!(
        fake.sheets(SS),
        vec![(7, "Registros".into()), (9, "O'Brien".into())]
    );

    let r: Value = reqwest::Client::new()
        .get(format!(
            "{}/v4/spreadsheets/{SS}/values:batchGet?ranges=%27O%27%27Brien%27\
             &ranges=Registros!A:ZZ&valueRenderOption=UNFORMATTED_VALUE&majorDimension=ROWS",
            fake.url()
        ))
        .bearer_auth("ya29.fake-sheets-token")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let first = &r["valueRanges"][0];
    assert_eq!(first["range"], "'O''Brien'!A1:Z1000");
    assert_eq!(
        first["values"],
        json!([["a", "", 2.5], [], [true], ["=1+1"]])
    );
    assert_eq!(r["valueRanges"][1]["values"], json!([["id", "nombre"]]));
    assert_eq!(fake.stats().batch_updates_applied, 1);
}

#[tokio::test]
async fn a_batch_update_with_one_bad_request_changes_nothing() {
    let fake = fake_with(FakeConfig::default()).await;
    let (status, body) = update(
        &fake,
        json!({"requests": [
            append("tbl", "s1"),
            {"addSheet": {"properties": {"sheetId": 10, "title": "Nuevo"}}},
            {"addSheet": {"properties": {"sheetId": 11, "title": "registros"}}},
        ]}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["status"], "INVALID_ARGUMENT");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already exists")
    );
    assert_eq!(fake.sheets(SS).len(), 1);
    assert_eq!(
        fake.table_rows(SS, "tbl"),
        vec![vec![json!("id"), json!("nombre")]]
    );
    assert_eq!(fake.stats().batch_updates_applied, 0);
}

#[tokio::test]
async fn append_with_a_table_id_goes_right_after_the_table_even_with_rows_below() {
    let fake = fake_with(FakeConfig::default()).await;
    fake.insert_row(SS, 7, 3, vec![json!("nota del staff")]);
    let (status, _) = update(
        &fake,
        json!({"requests": [append("tbl", "s1"), append("tbl", "s2")]}),
    )
    .await;
    assert_eq!(status, 200);
    let rows = fake.rows(SS, 7);
    assert_eq!(rows[1], vec![json!("s1"), json!("x")]);
    assert_eq!(rows[2], vec![json!("s2"), json!("x")]);
    assert_eq!(rows[5], vec![json!("nota del staff")]);
    assert_eq!(fake.table_rows(SS, "tbl").len(), 3);
}

#[tokio::test]
async fn unknown_fields_and_unsupported_values_are_400() {
    let fake = fake_with(FakeConfig::default()).await;
    for (bad, name) in [
        (json!({"deleteSheet": {"sheetId": 7}}), "deleteSheet"),
        (
            json!({"appendCells": {"sheetId": 7, "fields": "*", "rows": [{"values": [
            {"userEnteredValue": {"formulaValue": "=1"}}]}]}}),
            "formulaValue",
        ),
        (
            json!({"appendCells": {"sheetId": 7, "fields": "*", "rows": [{"values": [
            {"userEnteredFormat": {}}]}]}}),
            "userEnteredFormat",
        ),
    ] {
        let (status, body) = update(&fake, json!({"requests": [bad]})).await;
        assert_eq!(status, 400);
        let msg = body["error"]["message"].as_str().unwrap();
        assert!(msg.contains(&format!("Unknown name \"{name}\"")), "{msg}");
    }
    let (status, _) = update(
        &fake,
        json!({"requests": [{"appendCells": {"sheetId": 7, "rows": []}}]}),
    )
    .await;
    assert_eq!(status, 400, "fields is required");
    assert_eq!(fake.table_rows(SS, "tbl").len(), 1);
}

#[tokio::test]
async fn writes_over_the_quota_are_429_and_pass_again_after_the_window() {
    let config = FakeConfig {
        writes_per_minute: 2,
        quota_window: Duration::from_millis(400),
        retry_after_secs: Some(7),
        ..FakeConfig::default()
    };
    let fake = fake_with(config).await;
    for id in ["s1", "s2"] {
        assert_eq!(
            update(&fake, json!({"requests": [append("tbl", id)]}))
                .await
                .0,
            200
        );
    }
    let r = reqwest::Client::new()
        .post(format!("{}/v4/spreadsheets/{SS}:batchUpdate", fake.url()))
        .bearer_auth("ya29.fake-sheets-token")
        .json(&json!({"requests": [append("tbl", "s3")]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "7");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["status"], "RESOURCE_EXHAUSTED");
    assert_eq!(body["error"]["details"][0]["reason"], "RATE_LIMIT_EXCEEDED");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("'Write requests'")
    );
    assert_eq!(fake.table_rows(SS, "tbl").len(), 3);
    assert_eq!(fake.stats().rate_limited, 1);
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(
        update(&fake, json!({"requests": [append("tbl", "s3")]}))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn a_lost_response_applies_the_write_and_answers_500() {
    let fake = fake_with(FakeConfig::default()).await;
    fake.inject_write([Fault::LostResponse, Fault::Status503]);
    let (status, body) = update(&fake, json!({"requests": [append("tbl", "s1")]})).await;
    assert_eq!(
        (status, body["error"]["status"].as_str()),
        (500, Some("INTERNAL"))
    );
    assert_eq!(fake.table_rows(SS, "tbl").len(), 2);
    let (status, _) = update(&fake, json!({"requests": [append("tbl", "s2")]})).await;
    assert_eq!(status, 503);
    assert_eq!(fake.table_rows(SS, "tbl").len(), 2);
    let s = fake.stats();
    assert_eq!(
        (s.writes, s.faults_served, s.batch_updates_applied),
        (2, 2, 1)
    );
    assert_eq!(fake.write_times().len(), 1);
}

#[tokio::test]
async fn staff_edits_keep_the_data_and_appends_still_go_after_the_table() {
    let fake = fake_with(FakeConfig::default()).await;
    update(
        &fake,
        json!({"requests": [append("tbl", "s1"), append("tbl", "s2")]}),
    )
    .await;
    fake.insert_row(SS, 7, 0, vec![json!("título")]);
    fake.insert_row(SS, 7, 2, vec![json!("s0"), json!("manual")]);
    fake.insert_row(SS, 7, 5, vec![json!("debajo")]);
    fake.sort_table(SS, "tbl", 0, true);
    fake.insert_column(SS, 7, 0);
    let (status, _) = update(&fake, json!({"requests": [append("tbl", "s3")]})).await;
    assert_eq!(status, 200);
    let table = fake.table_rows(SS, "tbl");
    let ids: Vec<&str> = table.iter().map(|r| r[0].as_str().unwrap()).collect();
    assert_eq!(ids, ["id", "s2", "s1", "s0", "s3"]);
    assert_eq!(
        table[4],
        [json!("s3"), json!("x")],
        "in the table's columns"
    );
    let rows = fake.rows(SS, 7);
    assert_eq!(rows[0], [json!(""), json!("título")]);
    assert_eq!(rows[5], [json!(""), json!("s3"), json!("x")]);
    assert_eq!(rows[6], [json!(""), json!("debajo")]);
    fake.delete_row(SS, 7, 0);
    fake.rename_sheet(SS, 7, "Renombrada");
    assert_eq!(fake.table_rows(SS, "tbl").len(), 5);
    assert_eq!(fake.sheets(SS), vec![(7, "Renombrada".into())]);
}

#[tokio::test]
async fn unknown_and_unshared_spreadsheets_are_404_and_403() {
    let fake = fake_with(FakeConfig::default()).await;
    let get = |id: &str| {
        reqwest::Client::new()
            .get(format!(
                "{}/v4/spreadsheets/{id}?fields=sheets.properties(sheetId,title)",
                fake.url()
            ))
            .bearer_auth("ya29.fake-sheets-token")
            .send()
    };
    let ok: Value = get(SS).await.unwrap().json().await.unwrap();
    assert_eq!(ok["sheets"][0]["properties"]["title"], "Registros");
    assert_eq!(get("nope").await.unwrap().status(), 404);
    fake.set_shared(SS, false);
    assert_eq!(get(SS).await.unwrap().status(), 403);
}

#[tokio::test]
async fn the_registro_layout_has_the_tabs_tables_and_headers_registro_is_pointed_at() {
    use domain::sheets::{DELEGACIONES_TAB, FACULTY_DELEGACIONES_TAB, FACULTY_TAB, header};
    let fake = SheetsFake::start().await;
    let env = fake.add_registro_layout();
    assert_eq!(
        fake.sheets(DELEGACIONES_SPREADSHEET),
        vec![(DELEGACIONES_SHEET, "Delegaciones".into())]
    );
    assert_eq!(
        fake.sheets(FACULTY_SPREADSHEET),
        vec![
            (FACULTY_SHEET, "Faculty".into()),
            (FACULTY_DELEGACIONES_SHEET, "Faculty delegaciones".into()),
        ]
    );
    for (spreadsheet, table, tab) in [
        (
            DELEGACIONES_SPREADSHEET,
            DELEGACIONES_TABLE,
            DELEGACIONES_TAB,
        ),
        (FACULTY_SPREADSHEET, FACULTY_TABLE, FACULTY_TAB),
        (
            FACULTY_SPREADSHEET,
            FACULTY_DELEGACIONES_TABLE,
            FACULTY_DELEGACIONES_TAB,
        ),
    ] {
        let expected: Vec<Value> = header(tab).into_iter().map(|h| json!(h)).collect();
        assert_eq!(
            fake.table_rows(spreadsheet, table),
            vec![expected],
            "{table}"
        );
    }
    let book: Value = reqwest::Client::new()
        .get(format!(
            "{}/v4/spreadsheets/{FACULTY_SPREADSHEET}",
            fake.url()
        ))
        .bearer_auth(&fake.config().access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let table_in = |i: usize| {
        let t = &book["sheets"][i]["tables"][0];
        (t["tableId"].clone(), t["range"]["sheetId"].clone())
    };
    assert_eq!(table_in(0), (json!(FACULTY_TABLE), json!(FACULTY_SHEET)));
    assert_eq!(
        table_in(1),
        (
            json!(FACULTY_DELEGACIONES_TABLE),
            json!(FACULTY_DELEGACIONES_SHEET)
        )
    );
    let env: HashMap<&str, String> = env.into_iter().collect();
    let expected = HashMap::from([
        (
            "DELEGACIONES_SPREADSHEET_ID",
            "1DelegacionesSheet".to_string(),
        ),
        ("DELEGACIONES_SHEET_ID", "0".into()),
        ("DELEGACIONES_TABLE_ID", "tblDelegaciones".into()),
        ("FACULTY_SPREADSHEET_ID", "1FacultySheet".into()),
        ("FACULTY_GENERAL_SHEET_ID", "11".into()),
        ("FACULTY_GENERAL_TABLE_ID", "tblFaculty".into()),
        ("FACULTY_DELEGACIONES_SHEET_ID", "12".into()),
        (
            "FACULTY_DELEGACIONES_TABLE_ID",
            "tblFacultyDelegaciones".into(),
        ),
        ("SHEETS_API_URL", fake.url()),
    ]);
    assert_eq!(env, expected);
}
