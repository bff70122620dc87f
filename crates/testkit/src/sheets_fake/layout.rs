//! The spreadsheets `registro` is deployed against, so the tests and the bench set them up (and
//! point `registro` at them) in one call.

use super::SheetsFake;
use domain::sheets::{DELEGACIONES_TAB, FACULTY_DELEGACIONES_TAB, FACULTY_TAB, header};

/// Ids of the layout made by [`SheetsFake::add_registro_layout`].
pub const DELEGACIONES_SPREADSHEET: &str = "1DelegacionesSheet";
pub const FACULTY_SPREADSHEET: &str = "1FacultySheet";
pub const DELEGACIONES_SHEET: i32 = 0;
pub const FACULTY_SHEET: i32 = 11;
pub const FACULTY_DELEGACIONES_SHEET: i32 = 12;
pub const DELEGACIONES_TABLE: &str = "tblDelegaciones";
pub const FACULTY_TABLE: &str = "tblFaculty";
pub const FACULTY_DELEGACIONES_TABLE: &str = "tblFacultyDelegaciones";

impl SheetsFake {
    /// Creates the two spreadsheets the conference uses: `DELEGACIONES_SPREADSHEET` with tab
    /// `DELEGACIONES_SHEET` "Delegaciones" holding table `DELEGACIONES_TABLE` whose header is
    /// `domain::sheets::header(domain::sheets::DELEGACIONES_TAB)`, and `FACULTY_SPREADSHEET` with
    /// tab `FACULTY_SHEET` "Faculty" (table `FACULTY_TABLE`, header of `FACULTY_TAB`) and tab
    /// `FACULTY_DELEGACIONES_SHEET` "Faculty delegaciones" (table `FACULTY_DELEGACIONES_TABLE`,
    /// header of `FACULTY_DELEGACIONES_TAB`). Returns the environment `registro` needs to write
    /// to them: the eight `DELEGACIONES_*`/`FACULTY_*` variables and `SHEETS_API_URL` = self.url().
    pub fn add_registro_layout(&self) -> Vec<(&'static str, String)> {
        self.add_spreadsheet(DELEGACIONES_SPREADSHEET);
        self.add_sheet(DELEGACIONES_SPREADSHEET, DELEGACIONES_SHEET, "Delegaciones");
        self.add_table(
            DELEGACIONES_SPREADSHEET,
            DELEGACIONES_SHEET,
            DELEGACIONES_TABLE,
            &header(DELEGACIONES_TAB),
        );
        self.add_spreadsheet(FACULTY_SPREADSHEET);
        self.add_sheet(FACULTY_SPREADSHEET, FACULTY_SHEET, "Faculty");
        self.add_table(
            FACULTY_SPREADSHEET,
            FACULTY_SHEET,
            FACULTY_TABLE,
            &header(FACULTY_TAB),
        );
        self.add_sheet(
            FACULTY_SPREADSHEET,
            FACULTY_DELEGACIONES_SHEET,
            "Faculty delegaciones",
        );
        self.add_table(
            FACULTY_SPREADSHEET,
            FACULTY_DELEGACIONES_SHEET,
            FACULTY_DELEGACIONES_TABLE,
            &header(FACULTY_DELEGACIONES_TAB),
        );
        vec![
            (
                "DELEGACIONES_SPREADSHEET_ID",
                DELEGACIONES_SPREADSHEET.into(),
            ),
            ("DELEGACIONES_SHEET_ID", DELEGACIONES_SHEET.to_string()),
            ("DELEGACIONES_TABLE_ID", DELEGACIONES_TABLE.into()),
            ("FACULTY_SPREADSHEET_ID", FACULTY_SPREADSHEET.into()),
            ("FACULTY_GENERAL_SHEET_ID", FACULTY_SHEET.to_string()),
            ("FACULTY_GENERAL_TABLE_ID", FACULTY_TABLE.into()),
            (
                "FACULTY_DELEGACIONES_SHEET_ID",
                FACULTY_DELEGACIONES_SHEET.to_string(),
            ),
            (
                "FACULTY_DELEGACIONES_TABLE_ID",
                FACULTY_DELEGACIONES_TABLE.into(),
            ),
            ("SHEETS_API_URL", self.url()),
        ]
    }
}
