//! Tests of both form parsers: every rule with its code, message and field, the stored
//! document shapes, the reference fingerprints, and property tests over arbitrary forms.

use super::*;
use proptest::prelude::*;
use serde_json::json;
use std::sync::LazyLock;

static EXAMPLE: LazyLock<Catalog> = LazyLock::new(Catalog::example);
/// The real catalog when `REGISTRO_TEST_CATALOG` names it (see `catalog::test_catalogs`).
static REAL: LazyLock<Option<Catalog>> = LazyLock::new(crate::catalog::test_catalogs::real);

/// The example, then the real catalog when set.
fn catalogs() -> Vec<&'static Catalog> {
    std::iter::once(&*EXAMPLE).chain(REAL.as_ref()).collect()
}

const PDF: &[u8] = b"%PDF-1.4\n";
const KEY: &str = "0123456789abcdef0123456789abcdef";

fn pdf() -> Upload {
    Upload {
        filename: Some("Recibo Ana.pdf".into()),
        content_type: Some("application/pdf".into()),
        bytes: PDF.to_vec(),
    }
}

const PERSON: [[(&str, &str); 13]; 2] = [
    [
        ("nombre", "Ana"),
        ("apellido", "Pérez Gómez"),
        ("edad", "17"),
        ("celular", "+529991234567"),
        ("correo", "  Ana <Ana.Perez@EXAMPLE.COM> "),
        ("pais", "México"),
        ("ciudad_estado", "Mérida, Yucatán"),
        ("escolaridad", "Preparatoria"),
        ("escuela", "Colegio Montejo"),
        ("nombre_contacto", "María Gómez"),
        ("celular_contacto", "+52 999 765 4321"),
        ("relacion_contacto", "Madre"),
        ("info_extra", ""),
    ],
    [
        ("nombre", "Luis"),
        ("apellido", "Hernández"),
        ("edad", "18"),
        ("celular", "+525512345678"),
        ("correo", "Luis.H@Example.org"),
        ("pais", "México"),
        ("ciudad_estado", "Ciudad de México"),
        ("escolaridad", "No estudio"),
        ("escuela", ""),
        ("nombre_contacto", "Rosa Díaz"),
        ("celular_contacto", "(55) 1234-5678"),
        ("relacion_contacto", "Tía"),
        ("info_extra", "Vegetariano"),
    ],
];

/// Three committees admitting `m`, each with three delegations open to `m`.
fn choices(cat: &Catalog, m: Modality) -> Vec<(String, Vec<String>)> {
    let picks: Vec<_> = cat
        .committees()
        .iter()
        .filter(|c| c.allows(m))
        .filter_map(|c| {
            let names: Vec<String> = c
                .groups
                .iter()
                .filter(|g| c.tipo_allowed(g.tipo.as_deref(), m))
                .flat_map(|g| &g.entries)
                .map(|e| e.nombre.clone())
                .take(3)
                .collect();
            (names.len() == 3).then(|| (c.code.clone(), names))
        })
        .take(3)
        .collect();
    assert_eq!(picks.len(), 3);
    picks
}

/// A valid delegaciones form as the browser posts it (DOM order, with its extras).
fn delegaciones(cat: &Catalog, m: Modality) -> RawForm {
    let mut f = RawForm::default();
    f.push(KEY_FIELD, KEY);
    f.push("modalidad", m.as_str());
    f.push("delegacion_oficial", "no");
    let n = if m == Modality::Pareja { 2 } else { 1 };
    for (i, person) in PERSON.iter().enumerate().take(n) {
        for (p, v) in person {
            if !v.is_empty() || *p == "info_extra" {
                f.push(format!("{p}_{i}"), *v);
            }
        }
    }
    for (k, (code, names)) in choices(cat, m).iter().enumerate() {
        f.push(format!("comite_{k}"), code.as_str());
        for (j, n) in names.iter().enumerate() {
            f.push(format!("comite_{k}_pais_{j}"), format!("{code}:{n}"));
        }
    }
    f.push("aceptar_reglamento", "on");
    f.file = Some(pdf());
    f
}

fn faculty(n: usize) -> RawForm {
    let mut f = RawForm::default();
    for (k, v) in [
        (KEY_FIELD, KEY),
        ("nombre_faculty", "José"),
        ("apellido_faculty", "Pérez"),
        ("celular_faculty", "+529991234567"),
        ("correo_faculty", "Jose@Example.COM"),
        ("pais_faculty", "México"),
        ("ciudad_estado_faculty", "Mérida, Yucatán"),
        ("institucion_delegacion_oficial", "Escuela Modelo"),
    ] {
        f.push(k, v);
    }
    f.push("numero_delegaciones", n.to_string());
    for i in 0..n {
        for (p, v) in [
            ("nombre", format!("Delegado {i}")),
            ("apellido", format!("Apellido {i}")),
            ("edad", (14 + i).to_string()),
            ("celular", format!("+52999000000{i}")),
            ("correo", format!("d{i}@Example.com")),
            ("pais", "México".into()),
            ("ciudad_estado", "Mérida".into()),
            (
                "escolaridad",
                if i == 3 { "No estudio" } else { "Secundaria" }.into(),
            ),
            ("escuela", if i == 3 { "" } else { "Escuela Modelo" }.into()),
        ] {
            if !v.is_empty() {
                f.push(format!("{p}_d{i}"), v);
            }
        }
    }
    f.push("aceptar_reglamento", "on");
    f.file = Some(pdf());
    f
}

fn with(mut f: RawForm, changes: &[(&str, &str)]) -> RawForm {
    for (k, v) in changes {
        f.push(*k, *v);
    }
    f
}

fn ind(changes: &[(&str, &str)]) -> RawForm {
    with(delegaciones(&EXAMPLE, Modality::Individual), changes)
}

fn par(changes: &[(&str, &str)]) -> RawForm {
    with(delegaciones(&EXAMPLE, Modality::Pareja), changes)
}

fn fac(changes: &[(&str, &str)]) -> RawForm {
    with(faculty(4), changes)
}

fn without_file(mut f: RawForm) -> RawForm {
    f.file = None;
    f
}

fn with_file(mut f: RawForm, name: &str, mime: &str, bytes: &[u8]) -> RawForm {
    f.file = Some(Upload {
        filename: Some(name.into()),
        content_type: Some(mime.into()),
        bytes: bytes.to_vec(),
    });
    f
}

fn delegacion_data(v: &Validated) -> &DelegacionData {
    match &v.data {
        SubmissionData::Delegacion(d) => d,
        SubmissionData::Faculty(_) => panic!("not a delegacion"),
    }
}

fn faculty_data(v: &Validated) -> &FacultyData {
    match &v.data {
        SubmissionData::Faculty(d) => d,
        SubmissionData::Delegacion(_) => panic!("not faculty"),
    }
}

fn check_cases(cases: Vec<(&str, Result<Validated, Rejection>, Rule, &str)>) {
    for (name, got, rule, field) in cases {
        let r = got.expect_err(name);
        assert_eq!(
            (r.code, r.message, r.field.as_deref()),
            (rule.0, rule.1, Some(field)),
            "{name}"
        );
        assert!(RULES.contains(&(r.code, r.message)), "{name}");
    }
}

#[test]
fn valid_individual_and_pareja_forms_pass_with_both_catalogs() {
    for cat in catalogs() {
        for m in [Modality::Individual, Modality::Pareja] {
            let v = parse_delegaciones(&delegaciones(cat, m), cat)
                .unwrap_or_else(|r| panic!("{m:?}: {r:?}"));
            assert_eq!(v.submission_type, SubmissionType::Delegacion);
            assert_eq!(v.explicit_key.as_deref(), Some(KEY));
            assert_eq!(v.effective_key(), KEY);
            assert_eq!(v.fingerprint.len(), 64);
            let d = delegacion_data(&v);
            assert_eq!(d.modalidad, m.as_str());
            assert_eq!(
                d.participantes.len(),
                if m == Modality::Pareja { 2 } else { 1 }
            );
            assert_eq!(d.comites.len(), 3);
            for c in &d.comites {
                let committee = cat.committee(&c.nombre).unwrap();
                for o in &c.opciones {
                    assert!(committee.find(o.as_deref().unwrap()).is_some());
                }
            }
        }
    }
}

#[test]
fn every_catalog_refuses_an_individual_only_delegation_to_a_pair_and_accepts_it_individually() {
    for cat in catalogs() {
        let c = cat
            .committees()
            .iter()
            .find(|c| c.allows(Modality::Pareja) && !c.individual_only_tipos.is_empty())
            .expect("a committee open to pairs with an individual-only tipo");
        let only = c
            .groups
            .iter()
            .find(|g| !c.tipo_allowed(g.tipo.as_deref(), Modality::Pareja))
            .unwrap();
        let first = &only.entries[0];
        let others: Vec<_> = c
            .groups
            .iter()
            .flat_map(|g| &g.entries)
            .filter(|e| e.nombre != first.nombre)
            .take(2)
            .collect();
        let pick = |m: Modality| {
            let k = choices(cat, m)
                .iter()
                .position(|(code, _)| *code == c.code)
                .unwrap_or(0);
            [
                (format!("comite_{k}"), c.code.clone()),
                (format!("comite_{k}_pais_0"), c.form_value(first)),
                (format!("comite_{k}_pais_1"), c.form_value(others[0])),
                (format!("comite_{k}_pais_2"), c.form_value(others[1])),
            ]
        };
        let apply = |m: Modality| {
            let mut f = delegaciones(cat, m);
            for (k, v) in pick(m) {
                f.push(k, v);
            }
            f
        };
        let r = parse_delegaciones(&apply(Modality::Pareja), cat).unwrap_err();
        assert_eq!(r.code, "delegacion_no_disponible_en_codelegacion");
        assert_eq!(r.field, Some(pick(Modality::Pareja)[1].0.clone()));
        let v = parse_delegaciones(&apply(Modality::Individual), cat).unwrap();
        let k: usize = pick(Modality::Individual)[0].0["comite_".len()..]
            .parse()
            .unwrap();
        assert_eq!(
            delegacion_data(&v).comites[k].opciones[0].as_deref(),
            Some(first.nombre.as_str())
        );
    }
}

#[test]
fn the_pareja_document_has_the_reference_shape() {
    let v = parse_delegaciones(
        &par(&[
            ("delegacion_oficial", "si"),
            ("nombre_delegacion_oficial", "Colegio Montejo"),
            ("responsable_delegacion_oficial", "Prof. Ruiz"),
        ]),
        &EXAMPLE,
    )
    .unwrap();
    let got = serde_json::to_value(&v.data).unwrap();
    let want = json!({
        "modalidad": "pareja",
        "delegacion_oficial": {"is_oficial": true, "nombre": "Colegio Montejo", "responsable": "Prof. Ruiz"},
        "participantes": [
            {"nombre": "Ana", "apellido": "Pérez Gómez", "edad": 17, "celular": "+529991234567",
             "correo": "Ana.Perez@example.com", "pais": "México", "ciudad_estado": "Mérida, Yucatán",
             "escolaridad": "Preparatoria", "escuela": "Colegio Montejo",
             "contacto_emergencia": "María Gómez (Madre): +52 999 765 4321", "info_extra": null},
            {"nombre": "Luis", "apellido": "Hernández", "edad": 18, "celular": "+525512345678",
             "correo": "Luis.H@example.org", "pais": "México", "ciudad_estado": "Ciudad de México",
             "escolaridad": "No estudio", "escuela": "No aplica",
             "contacto_emergencia": "Rosa Díaz (Tía): (55) 1234-5678", "info_extra": "Vegetariano"}
        ],
        "comites": [
            {"nombre": "SOCHUM", "opciones": ["Islandia", "Jamaica", "Mongolia"]},
            {"nombre": "ONU-Hábitat", "opciones": ["Reino de los Países Bajos", "Reino de Suecia", "República de Ghana"]},
            {"nombre": "FIA", "opciones": ["Alpine F1 Team", "Aston Martin Aramco", "Williams Racing"]}
        ]
    });
    assert_eq!(got, want);
    assert_eq!(v.receipt.extension, ".pdf");
}

#[test]
fn an_unofficial_individual_stores_no_aplica_and_only_one_participant() {
    let v = parse_delegaciones(
        &ind(&[("nombre_1", "Ignorado"), ("correo_1", "no es correo")]),
        &EXAMPLE,
    )
    .unwrap();
    let d = delegacion_data(&v);
    assert_eq!(
        d.delegacion_oficial,
        DelegacionOficial {
            is_oficial: false,
            nombre: "No aplica".into(),
            responsable: "No aplica".into()
        }
    );
    assert_eq!(d.participantes.len(), 1);
    assert_eq!(d.comites[2].nombre, "Cumbre");
}

#[test]
fn the_faculty_document_has_the_reference_shape() {
    let v = parse_faculty(&faculty(4)).unwrap();
    assert_eq!(v.submission_type, SubmissionType::Faculty);
    let d = faculty_data(&v);
    assert_eq!(d.institucion, "Escuela Modelo");
    assert_eq!(d.numero_delegaciones, 4);
    assert_eq!(d.faculty.correo, "Jose@example.com");
    assert_eq!(d.delegaciones.len(), 4);
    assert_eq!(
        serde_json::to_value(&d.delegaciones[3]).unwrap(),
        json!({"nombre": "Delegado 3", "apellido": "Apellido 3", "edad": 17,
               "celular": "+529990000003", "correo": "d3@example.com", "pais": "México",
               "ciudad_estado": "Mérida", "escolaridad": "No estudio", "escuela": "No aplica"})
    );
    assert_eq!(d.delegaciones[0].escuela, "Escuela Modelo");
    assert!(parse_faculty(&faculty(12)).is_ok());
}

#[test]
fn every_delegaciones_rule_rejects_with_its_code_message_and_field() {
    use rules::*;
    let long = "x".repeat(151);
    let cat = &*EXAMPLE;
    let p = |f: RawForm| parse_delegaciones(&f, cat);
    let pareja_only = Catalog::from_json(&format!(
        r#"{{"comites": [
            {{"codigo": "P", "clave": "p", "nombre": "P", "modalidades": ["pareja"]}},
            {{"codigo": "A", "clave": "a", "nombre": "A"}},
            {{"codigo": "B", "clave": "b", "nombre": "B"}}],
          "delegaciones": {{"p": {e}, "a": {e}, "b": {e}}}}}"#,
        e = r#"[{"nombre": "X", "abreviacion": "x", "emoji": "x"}, {"nombre": "Y", "abreviacion": "y", "emoji": "y"}, {"nombre": "Z", "abreviacion": "z", "emoji": "z"}]"#
    ))
    .unwrap();
    let individual_in_pareja_only = {
        let mut f = RawForm::default();
        for (k, v) in ind(&[])
            .fields
            .iter()
            .filter(|(k, _)| !k.starts_with("comite_"))
        {
            f.push(k.as_str(), v.as_str());
        }
        f.file = Some(pdf());
        for (k, code) in ["P", "A", "B"].iter().enumerate() {
            f.push(format!("comite_{k}"), *code);
            for (j, n) in ["X", "Y", "Z"].iter().enumerate() {
                f.push(format!("comite_{k}_pais_{j}"), format!("{code}:{n}"));
            }
        }
        parse_delegaciones(&f, &pareja_only)
    };
    let cases = vec![
        // R0
        (
            "R0 missing required field",
            p(ind(&[("nombre_0", "")])),
            CAMPO_FALTANTE,
            "nombre_0",
        ),
        (
            "R0 missing modalidad",
            p(ind(&[("modalidad", "")])),
            CAMPO_FALTANTE,
            "modalidad",
        ),
        (
            "R0 missing second option",
            p(ind(&[("comite_1_pais_1", "")])),
            CAMPO_FALTANTE,
            "comite_1_pais_1",
        ),
        (
            "R0 text over 150 characters",
            p(ind(&[("apellido_0", &long)])),
            CAMPO_DEMASIADO_LARGO,
            "apellido_0",
        ),
        (
            "R0 optional text over 150",
            p(ind(&[("info_extra_0", &long)])),
            CAMPO_DEMASIADO_LARGO,
            "info_extra_0",
        ),
        (
            "R0 participant-1 field over 150 in individual",
            p(ind(&[("nombre_1", &long)])),
            CAMPO_DEMASIADO_LARGO,
            "nombre_1",
        ),
        (
            "R0 age over 2 characters is an invalid age",
            p(ind(&[("edad_0", "017")])),
            EDAD_INVALIDA,
            "edad_0",
        ),
        (
            "R0 phone over 30",
            p(ind(&[("celular_0", &"1".repeat(31))])),
            CAMPO_DEMASIADO_LARGO,
            "celular_0",
        ),
        (
            "R0 key over 128 before trim",
            p(ind(&[(KEY_FIELD, &format!(" {}", "k".repeat(128)))])),
            CAMPO_DEMASIADO_LARGO,
            KEY_FIELD,
        ),
        (
            "R0 modalidad out of enum",
            p(ind(&[("modalidad", "Pareja")])),
            VALOR_NO_PERMITIDO,
            "modalidad",
        ),
        (
            "R0 delegacion_oficial with accent",
            p(ind(&[("delegacion_oficial", "sí")])),
            VALOR_NO_PERMITIDO,
            "delegacion_oficial",
        ),
        (
            "R0 escolaridad in lower case",
            p(ind(&[("escolaridad_0", "preparatoria")])),
            VALOR_NO_PERMITIDO,
            "escolaridad_0",
        ),
        (
            "R0 escolaridad_1 checked even in individual",
            p(ind(&[("escolaridad_1", "Kinder")])),
            VALOR_NO_PERMITIDO,
            "escolaridad_1",
        ),
        (
            "R0 committee not in the catalog",
            p(ind(&[("comite_2", "UNRWA")])),
            VALOR_NO_PERMITIDO,
            "comite_2",
        ),
        (
            "R0 committee decomposed",
            p(ind(&[("comite_1", "ONU-Ha\u{301}bitat")])),
            VALOR_NO_PERMITIDO,
            "comite_1",
        ),
        (
            "R0 bad correo_0",
            p(ind(&[("correo_0", "ana@")])),
            CAMPO_CORREO_INVALIDO,
            "correo_0",
        ),
        (
            "R0 before R1",
            p(ind(&[(KEY_FIELD, "a b"), ("pais_0", "")])),
            CAMPO_FALTANTE,
            "pais_0",
        ),
        // R1
        (
            "R1 key with a space inside",
            p(ind(&[(KEY_FIELD, "a b")])),
            LLAVE_INVALIDA,
            KEY_FIELD,
        ),
        (
            "R1 key with punctuation",
            p(ind(&[(KEY_FIELD, "k1!")])),
            LLAVE_INVALIDA,
            KEY_FIELD,
        ),
        (
            "R1 key with non-ASCII",
            p(ind(&[(KEY_FIELD, "llavé")])),
            LLAVE_INVALIDA,
            KEY_FIELD,
        ),
        (
            "R1 before R2",
            p(without_file(ind(&[(KEY_FIELD, "k.1")]))),
            LLAVE_INVALIDA,
            KEY_FIELD,
        ),
        // R2
        (
            "R2 missing receipt",
            p(without_file(ind(&[]))),
            COMPROBANTE_FALTANTE,
            FILE_FIELD,
        ),
        (
            "R2 empty receipt",
            p(with_file(ind(&[]), "r.pdf", "application/pdf", b"")),
            COMPROBANTE_VACIO,
            FILE_FIELD,
        ),
        (
            "R2 unknown extension",
            p(with_file(ind(&[]), "r.gif", "image/gif", b"GIF89a")),
            COMPROBANTE_EXTENSION_INVALIDA,
            FILE_FIELD,
        ),
        (
            "R2 wrong mime",
            p(with_file(ind(&[]), "r.pdf", "image/png", PDF)),
            COMPROBANTE_TIPO_INVALIDO,
            FILE_FIELD,
        ),
        (
            "R2 wrong content",
            p(with_file(ind(&[]), "r.png", "image/png", PDF)),
            COMPROBANTE_CONTENIDO_INVALIDO,
            FILE_FIELD,
        ),
        (
            "R2 before R3",
            p(without_file(par(&[("comite_0", "Crisis")]))),
            COMPROBANTE_FALTANTE,
            FILE_FIELD,
        ),
        // R3
        (
            "R3 Crisis in pareja",
            p(par(&[("comite_0", "Crisis")])),
            COMITE_NO_PERMITIDO_EN_CODELEGACION,
            "comite_0",
        ),
        (
            "R3 Cumbre in pareja",
            p(par(&[("comite_2", "Cumbre")])),
            COMITE_NO_PERMITIDO_EN_CODELEGACION,
            "comite_2",
        ),
        (
            "R3 pareja-only committee in individual",
            individual_in_pareja_only,
            COMITE_NO_PERMITIDO_EN_MODALIDAD,
            "comite_0",
        ),
        (
            "R3 before R4",
            p(par(&[("comite_0", "Crisis"), ("comite_1", "Crisis")])),
            COMITE_NO_PERMITIDO_EN_CODELEGACION,
            "comite_0",
        ),
        // R4
        (
            "R4 repeated committee",
            p(ind(&[("comite_1", "SOCHUM")])),
            COMITES_REPETIDOS,
            "comite_1",
        ),
        (
            "R4 first and third",
            p(ind(&[("comite_2", "SOCHUM")])),
            COMITES_REPETIDOS,
            "comite_2",
        ),
        // R5
        (
            "R5 official without names",
            p(ind(&[("delegacion_oficial", "si")])),
            FALTAN_DATOS_DELEGACION_OFICIAL,
            "nombre_delegacion_oficial",
        ),
        (
            "R5 official without responsable",
            p(ind(&[
                ("delegacion_oficial", "si"),
                ("nombre_delegacion_oficial", "Colegio"),
            ])),
            FALTAN_DATOS_DELEGACION_OFICIAL,
            "responsable_delegacion_oficial",
        ),
        (
            "R5 blank name",
            p(ind(&[
                ("delegacion_oficial", "si"),
                ("nombre_delegacion_oficial", "  "),
                ("responsable_delegacion_oficial", "R"),
            ])),
            FALTAN_DATOS_DELEGACION_OFICIAL,
            "nombre_delegacion_oficial",
        ),
        (
            "R5 before R6",
            p(ind(&[
                ("delegacion_oficial", "si"),
                ("comite_0_pais_1", "SOCHUM:Islandia"),
            ])),
            FALTAN_DATOS_DELEGACION_OFICIAL,
            "nombre_delegacion_oficial",
        ),
        // R6
        (
            "R6 first and second option equal",
            p(ind(&[("comite_0_pais_1", "SOCHUM:Islandia")])),
            DELEGACIONES_REPETIDAS,
            "comite_0_pais_1",
        ),
        (
            "R6 first and third option equal",
            p(ind(&[(
                "comite_2_pais_2",
                "Cumbre:Vanessa Nakate (justicia climática)",
            )])),
            DELEGACIONES_REPETIDAS,
            "comite_2_pais_2",
        ),
        (
            "R6 compares raw strings, even malformed",
            p(ind(&[("comite_1_pais_0", "zz"), ("comite_1_pais_2", "zz")])),
            DELEGACIONES_REPETIDAS,
            "comite_1_pais_2",
        ),
        // third option
        (
            "missing third option",
            p(ind(&[("comite_1_pais_2", "")])),
            FALTAN_OPCIONES_DELEGACION,
            "comite_1_pais_2",
        ),
        (
            "third option before ages",
            p(ind(&[("comite_0_pais_2", ""), ("edad_0", "9")])),
            FALTAN_OPCIONES_DELEGACION,
            "comite_0_pais_2",
        ),
        // R7
        (
            "R7 age below 11",
            p(ind(&[("edad_0", "10")])),
            EDAD_INVALIDA,
            "edad_0",
        ),
        (
            "R7 age above 26",
            p(ind(&[("edad_0", "27")])),
            EDAD_INVALIDA,
            "edad_0",
        ),
        (
            "R7 age with a letter",
            p(ind(&[("edad_0", "1a")])),
            EDAD_INVALIDA,
            "edad_0",
        ),
        (
            "R7 age with a space",
            p(ind(&[("edad_0", " 9")])),
            EDAD_INVALIDA,
            "edad_0",
        ),
        (
            "R7 age with a sign",
            p(ind(&[("edad_0", "+9")])),
            EDAD_INVALIDA,
            "edad_0",
        ),
        (
            "R7 age in Arabic-Indic digits",
            p(ind(&[("edad_0", "١٥")])),
            EDAD_INVALIDA,
            "edad_0",
        ),
        // R8
        (
            "R8 missing second age",
            p(par(&[("edad_1", "")])),
            EDAD_INVALIDA,
            "edad_1",
        ),
        (
            "R8 second age out of range",
            p(par(&[("edad_1", "30")])),
            EDAD_INVALIDA,
            "edad_1",
        ),
        (
            "R8 before R9",
            p(par(&[("edad_1", ""), ("nombre_1", "")])),
            EDAD_INVALIDA,
            "edad_1",
        ),
        // R9
        (
            "R9 missing codelegate name",
            p(par(&[("nombre_1", "")])),
            FALTAN_DATOS_CODELEGACION,
            "nombre_1",
        ),
        (
            "R9 blank emergency phone",
            p(par(&[("celular_contacto_1", "   ")])),
            FALTAN_DATOS_CODELEGACION,
            "celular_contacto_1",
        ),
        (
            "R9 missing escolaridad_1",
            p(par(&[("escolaridad_1", "")])),
            FALTAN_DATOS_CODELEGACION,
            "escolaridad_1",
        ),
        // e-mail of the codelegate
        (
            "correo_1 invalid in pareja",
            p(par(&[("correo_1", "luis(at)example.org")])),
            CORREO_INVALIDO,
            "correo_1",
        ),
        // phones
        (
            "phone too short",
            p(ind(&[("celular_0", "12345")])),
            CELULAR_INVALIDO,
            "celular_0",
        ),
        (
            "phone with letters",
            p(ind(&[("celular_contacto_0", "+52 999 ABC 1234")])),
            CELULAR_INVALIDO,
            "celular_contacto_0",
        ),
        (
            "phone with 16 digits",
            p(ind(&[("celular_0", "+1234567890123456")])),
            CELULAR_INVALIDO,
            "celular_0",
        ),
        (
            "phone with a plus inside",
            p(ind(&[("celular_0", "52+9991234567")])),
            CELULAR_INVALIDO,
            "celular_0",
        ),
        (
            "codelegate phone",
            p(par(&[("celular_1", "+1 23")])),
            CELULAR_INVALIDO,
            "celular_1",
        ),
        (
            "codelegate emergency phone",
            p(par(&[("celular_contacto_1", "n/a")])),
            CELULAR_INVALIDO,
            "celular_contacto_1",
        ),
        // escuela
        (
            "school missing while studying",
            p(ind(&[("escuela_0", "")])),
            FALTA_ESCUELA,
            "escuela_0",
        ),
        (
            "codelegate school missing while studying",
            p(par(&[("escolaridad_1", "Universidad")])),
            FALTA_ESCUELA,
            "escuela_1",
        ),
        (
            "school before R10",
            p(ind(&[("escuela_0", ""), ("comite_0_pais_0", "x")])),
            FALTA_ESCUELA,
            "escuela_0",
        ),
        // R10
        (
            "R10 value without colon (individual)",
            p(ind(&[("comite_0_pais_0", "Islandia")])),
            DELEGACION_INVALIDA,
            "comite_0_pais_0",
        ),
        (
            "R10 value without colon (pareja)",
            p(par(&[("comite_1_pais_1", "Suecia")])),
            DELEGACION_INVALIDA,
            "comite_1_pais_1",
        ),
        (
            "R10 prefix of another committee",
            p(ind(&[("comite_0_pais_2", "FIA:Lando Norris")])),
            DELEGACION_INVALIDA,
            "comite_0_pais_2",
        ),
        (
            "R10 prefix in another case",
            p(ind(&[("comite_0_pais_0", "sochum:Islandia")])),
            DELEGACION_INVALIDA,
            "comite_0_pais_0",
        ),
        (
            "R10 name not in the catalog",
            p(ind(&[("comite_0_pais_0", "SOCHUM:Atlántida")])),
            DELEGACION_NO_ENCONTRADA,
            "comite_0_pais_0",
        ),
        (
            "R10 name of another committee",
            p(ind(&[("comite_1_pais_0", "ONU-Hábitat:Islandia")])),
            DELEGACION_NO_ENCONTRADA,
            "comite_1_pais_0",
        ),
        (
            "R10 everything after the first colon is the name",
            p(ind(&[("comite_0_pais_0", "SOCHUM:Islandia:x")])),
            DELEGACION_NO_ENCONTRADA,
            "comite_0_pais_0",
        ),
        (
            "R10 before R11",
            p(par(&[
                ("comite_2_pais_0", "FIA:Lando Norris"),
                ("comite_0_pais_0", "SOCHUM:Nadie"),
            ])),
            DELEGACION_NO_ENCONTRADA,
            "comite_0_pais_0",
        ),
        // R11
        (
            "R11 pilot in pareja",
            p(par(&[("comite_2_pais_1", "FIA:Lando Norris")])),
            DELEGACION_NO_DISPONIBLE_EN_CODELEGACION,
            "comite_2_pais_1",
        ),
    ];
    check_cases(cases);
}

#[test]
fn every_faculty_rule_rejects_with_its_code_message_and_field() {
    use rules::*;
    let long = "x".repeat(151);
    let p = |f: RawForm| parse_faculty(&f);
    let cases = vec![
        (
            "F0 missing institucion",
            p(fac(&[("institucion_delegacion_oficial", "")])),
            CAMPO_FALTANTE,
            "institucion_delegacion_oficial",
        ),
        (
            "F0 missing numero",
            p(fac(&[("numero_delegaciones", "")])),
            CAMPO_FALTANTE,
            "numero_delegaciones",
        ),
        (
            "F0 institucion over 150",
            p(fac(&[("institucion_delegacion_oficial", &long)])),
            CAMPO_DEMASIADO_LARGO,
            "institucion_delegacion_oficial",
        ),
        (
            "F0 celular_faculty over 30",
            p(fac(&[("celular_faculty", &"1".repeat(31))])),
            CAMPO_DEMASIADO_LARGO,
            "celular_faculty",
        ),
        (
            "F0 numero over 2 characters",
            p(fac(&[("numero_delegaciones", "100")])),
            CAMPO_DEMASIADO_LARGO,
            "numero_delegaciones",
        ),
        (
            "F0 bad correo_faculty",
            p(fac(&[("correo_faculty", "jose@@example.com")])),
            CAMPO_CORREO_INVALIDO,
            "correo_faculty",
        ),
        (
            "F1 key",
            p(fac(&[(KEY_FIELD, "k/1")])),
            LLAVE_INVALIDA,
            KEY_FIELD,
        ),
        (
            "F2 receipt",
            p(without_file(fac(&[]))),
            COMPROBANTE_FALTANTE,
            FILE_FIELD,
        ),
        (
            "F2 before F3",
            p(without_file(fac(&[("numero_delegaciones", "x")]))),
            COMPROBANTE_FALTANTE,
            FILE_FIELD,
        ),
        (
            "F3 fewer than four",
            p(fac(&[("numero_delegaciones", "3")])),
            NUMERO_DELEGACIONES_INVALIDO,
            "numero_delegaciones",
        ),
        (
            "F3 not a number",
            p(fac(&[("numero_delegaciones", "x4")])),
            NUMERO_DELEGACIONES_INVALIDO,
            "numero_delegaciones",
        ),
        (
            "F3 signed",
            p(fac(&[("numero_delegaciones", "+4")])),
            NUMERO_DELEGACIONES_INVALIDO,
            "numero_delegaciones",
        ),
        (
            "F3 non-ASCII digit",
            p(fac(&[("numero_delegaciones", "٤")])),
            NUMERO_DELEGACIONES_INVALIDO,
            "numero_delegaciones",
        ),
        (
            "faculty phone",
            p(fac(&[("celular_faculty", "999")])),
            CELULAR_INVALIDO,
            "celular_faculty",
        ),
        (
            "row missing a field",
            p(fac(&[("correo_d2", "")])),
            FALTAN_DATOS_DELEGACION,
            "correo_d2",
        ),
        (
            "row with a blank field",
            p(fac(&[("pais_d0", " ")])),
            FALTAN_DATOS_DELEGACION,
            "pais_d0",
        ),
        (
            "row with only a name",
            p(fac(&[
                ("apellido_d1", ""),
                ("edad_d1", ""),
                ("celular_d1", ""),
                ("correo_d1", ""),
                ("pais_d1", ""),
                ("ciudad_estado_d1", ""),
                ("escolaridad_d1", ""),
                ("escuela_d1", ""),
            ])),
            FALTAN_DATOS_DELEGACION,
            "apellido_d1",
        ),
        (
            "row name over 150",
            p(fac(&[("nombre_d0", &long)])),
            CAMPO_DEMASIADO_LARGO,
            "nombre_d0",
        ),
        (
            "row escuela over 150",
            p(fac(&[("escuela_d1", &long)])),
            CAMPO_DEMASIADO_LARGO,
            "escuela_d1",
        ),
        (
            "row phone over 30",
            p(fac(&[("celular_d2", &"2".repeat(31))])),
            CAMPO_DEMASIADO_LARGO,
            "celular_d2",
        ),
        (
            "row age too high",
            p(fac(&[("edad_d1", "99")])),
            EDAD_INVALIDA,
            "edad_d1",
        ),
        (
            "row age negative",
            p(fac(&[("edad_d1", "-1")])),
            EDAD_INVALIDA,
            "edad_d1",
        ),
        (
            "row age over 2 characters is an invalid age",
            p(fac(&[("edad_d1", "015")])),
            EDAD_INVALIDA,
            "edad_d1",
        ),
        (
            "row phone",
            p(fac(&[("celular_d3", "abc")])),
            CELULAR_INVALIDO,
            "celular_d3",
        ),
        (
            "row e-mail",
            p(fac(&[("correo_d0", "d0@example")])),
            CORREO_INVALIDO,
            "correo_d0",
        ),
        (
            "row escolaridad",
            p(fac(&[("escolaridad_d2", "Kinder")])),
            VALOR_NO_PERMITIDO,
            "escolaridad_d2",
        ),
        (
            "row school missing while studying",
            p(fac(&[("escuela_d0", "")])),
            FALTA_ESCUELA,
            "escuela_d0",
        ),
        (
            "F5 fewer rows than announced",
            p(fac(&[("numero_delegaciones", "5")])),
            NUMERO_DELEGACIONES_NO_COINCIDE,
            "numero_delegaciones",
        ),
        (
            "F5 a row beyond N",
            p(fac(&[("nombre_d4", "Extra")])),
            NUMERO_DELEGACIONES_NO_COINCIDE,
            "nombre_d4",
        ),
        (
            "F5 any field beyond N",
            p(fac(&[("escuela_d17", "X")])),
            NUMERO_DELEGACIONES_NO_COINCIDE,
            "escuela_d17",
        ),
        (
            "F5 an absurd index",
            p(fac(&[("pais_d99999999999999999999999", "X")])),
            NUMERO_DELEGACIONES_NO_COINCIDE,
            "pais_d99999999999999999999999",
        ),
        (
            "rows before F5",
            p(fac(&[("edad_d0", "5"), ("nombre_d4", "Extra")])),
            EDAD_INVALIDA,
            "edad_d0",
        ),
    ];
    check_cases(cases);
}

#[test]
fn accepted_variants_pass() {
    let cat = &*EXAMPLE;
    let ok = |f: RawForm| parse_delegaciones(&f, cat).unwrap_or_else(|r| panic!("{r:?}"));
    let e150 = "é".repeat(150);
    ok(ind(&[("nombre_0", &e150)]));
    ok(ind(&[(KEY_FIELD, &"k".repeat(128))]));
    ok(ind(&[("edad_0", "11")]));
    ok(ind(&[("edad_0", "26")]));
    ok(ind(&[("celular_0", "+52 (999) 123-45.67")]));
    ok(ind(&[("celular_0", "1234567")]));
    ok(ind(&[("escolaridad_0", "No estudio"), ("escuela_0", "")]));
    ok(ind(&[("correo_1", "cualquier cosa")]));
    ok(ind(&[
        ("delegacion_oficial", "no"),
        ("nombre_delegacion_oficial", "Colegio"),
    ]));
    ok(ind(&[("celular_1", "no se valida en individual")]));
    assert_eq!(
        ok(ind(&[(KEY_FIELD, "  k1  ")])).explicit_key.as_deref(),
        Some("k1")
    );
    let fallback = ok(ind(&[(KEY_FIELD, "   ")]));
    assert_eq!(fallback.explicit_key, None);
    assert_eq!(fallback.effective_key(), fallback.fingerprint);
    assert_eq!(ok(ind(&[(KEY_FIELD, "")])).explicit_key, None);
    // Last duplicate wins; an empty duplicate removes the value.
    let v = ok(ind(&[("nombre_0", "Primera"), ("nombre_0", "Segunda")]));
    assert_eq!(delegacion_data(&v).participantes[0].nombre, "Segunda");
    let v = ok(ind(&[("info_extra_0", "Asma")]));
    assert_eq!(
        delegacion_data(&v).participantes[0].info_extra.as_deref(),
        Some("Asma")
    );

    let okf = |f: RawForm| parse_faculty(&f).unwrap_or_else(|r| panic!("{r:?}"));
    okf(fac(&[("numero_delegaciones", "04")]));
    okf(fac(&[("nombre_d4", "")]));
    okf(fac(&[("nombre_d04", "not a row name")]));
    okf(fac(&[("celular_faculty", "+52 999 123 4567")]));
}

#[test]
fn rules_pairs_are_unique_and_match_the_receipt_errors() {
    let mut seen = std::collections::BTreeSet::new();
    for pair in RULES {
        assert!(seen.insert(pair.0), "one message per code: {pair:?}");
        assert!(pair.0.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
        assert!(pair.1.ends_with('.'));
    }
    for e in [
        ReceiptError::Missing,
        ReceiptError::Empty,
        ReceiptError::TooLarge,
        ReceiptError::UnknownExtension,
        ReceiptError::MimeMismatch,
        ReceiptError::ContentMismatch,
    ] {
        assert!(RULES.contains(&(e.code(), e.message())), "{e:?}");
    }
}

#[test]
fn the_declared_delegaciones_fields_are_the_42_of_the_reference() {
    assert_eq!(DELEGACIONES_FIELDS.len(), 42);
    let names: std::collections::BTreeSet<_> = DELEGACIONES_FIELDS.iter().map(|d| d.name).collect();
    assert_eq!(names.len(), 42);
    assert_eq!(FACULTY_FIELDS.len(), 8);
}

/// Golden values computed with python3 from the reference algorithm (api.md §5.3):
/// hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
/// with `fields` = the 42 declared fields of the forms built by `delegaciones(EXAMPLE, m)`
/// (participant-1 fields null in individual except a stray `correo_1`), emails normalised
/// where validated, and `file.hash` = sha256(b"%PDF-1.4\n"). The script follows the
/// constants.
#[test]
fn delegaciones_fingerprints_match_the_reference_implementation() {
    let v = parse_delegaciones(&ind(&[("correo_1", "no es correo")]), &EXAMPLE).unwrap();
    assert_eq!(v.fingerprint, GOLDEN_INDIVIDUAL);
    let v = parse_delegaciones(&par(&[]), &EXAMPLE).unwrap();
    assert_eq!(v.fingerprint, GOLDEN_PAREJA);
}

const GOLDEN_INDIVIDUAL: &str = "8223bb023880f060878c4aaa1fff7f0b0df4df7da8c405c02786a2f6ef22f194";
const GOLDEN_PAREJA: &str = "b04bdc7d88886237135db89754cdc5859afaffbf01edd758e9bf97b89948978b";

// The python3 script that produced the golden values:
//
// import hashlib, json
// def h(fields):
//     payload = {"submission_type": "delegacion", "fields": fields,
//                "file": {"hash": hashlib.sha256(b"%PDF-1.4\n").hexdigest()}}
//     return hashlib.sha256(json.dumps(payload, sort_keys=True,
//                                      ensure_ascii=False).encode()).hexdigest()
// p0 = dict(nombre="Ana", apellido="Pérez Gómez", edad="17", celular="+529991234567",
//           correo="Ana.Perez@example.com", pais="México", ciudad_estado="Mérida, Yucatán",
//           escolaridad="Preparatoria", escuela="Colegio Montejo",
//           nombre_contacto="María Gómez", celular_contacto="+52 999 765 4321",
//           relacion_contacto="Madre", info_extra=None)
// p1 = dict(nombre="Luis", apellido="Hernández", edad="18", celular="+525512345678",
//           correo="Luis.H@example.org", pais="México", ciudad_estado="Ciudad de México",
//           escolaridad="No estudio", escuela=None, nombre_contacto="Rosa Díaz",
//           celular_contacto="(55) 1234-5678", relacion_contacto="Tía",
//           info_extra="Vegetariano")
// def base(modalidad, comites, person1):
//     f = {"modalidad": modalidad, "delegacion_oficial": "no",
//          "nombre_delegacion_oficial": None, "responsable_delegacion_oficial": None}
//     for k, v in p0.items(): f[f"{k}_0"] = v
//     for k in p0: f[f"{k}_1"] = person1.get(k)
//     for k, (code, names) in enumerate(comites):
//         f[f"comite_{k}"] = code
//         for j, n in enumerate(names): f[f"comite_{k}_pais_{j}"] = f"{code}:{n}"
//     assert len(f) == 42
//     return f
// SOCHUM = ("SOCHUM", ["Islandia", "Jamaica", "Mongolia"])
// HABITAT = ("ONU-Hábitat", ["Reino de los Países Bajos", "Reino de Suecia",
//                            "República de Ghana"])
// print(h(base("individual", [SOCHUM, HABITAT, ("Cumbre", [
//     "Vanessa Nakate (justicia climática)", "Xiuhtezcatl Martínez (juventud y clima)",
//     "Presidente Gabriel Boric (República de Chile)"])], {"correo": "no es correo"})))
// print(h(base("pareja", [SOCHUM, HABITAT, ("FIA", [
//     "Alpine F1 Team", "Aston Martin Aramco", "Williams Racing"])], p1)))

#[test]
fn the_fingerprint_ignores_extras_file_name_and_email_spelling() {
    let base = parse_delegaciones(&ind(&[]), &EXAMPLE).unwrap().fingerprint;
    let mut f = ind(&[
        ("aceptar_reglamento", "off"),
        ("otro", "x"),
        (KEY_FIELD, "otra"),
    ]);
    f.file.as_mut().unwrap().filename = Some("otro.PDF".into());
    let same = parse_delegaciones(&f, &EXAMPLE).unwrap().fingerprint;
    assert_eq!(base, same);
    let spelled = parse_delegaciones(&ind(&[("correo_0", "Ana.Perez@example.com")]), &EXAMPLE)
        .unwrap()
        .fingerprint;
    assert_eq!(base, spelled);
    let other = parse_delegaciones(&ind(&[("ciudad_estado_0", "Mérida")]), &EXAMPLE)
        .unwrap()
        .fingerprint;
    assert_ne!(base, other);
    let stray = parse_delegaciones(&ind(&[("nombre_1", "X")]), &EXAMPLE)
        .unwrap()
        .fingerprint;
    assert_ne!(
        base, stray,
        "declared participant-1 fields are hashed in individual too"
    );
    let f = parse_faculty(&faculty(4)).unwrap().fingerprint;
    let g = parse_faculty(&fac(&[("correo_d0", "D0@EXAMPLE.com")]))
        .unwrap()
        .fingerprint;
    assert_ne!(f, g, "local parts keep their case");
    let h = parse_faculty(&fac(&[("correo_d0", "d0@EXAMPLE.com")]))
        .unwrap()
        .fingerprint;
    assert_eq!(f, h);
}

// ---- property tests ----------------------------------------------------------------

fn all_names() -> Vec<String> {
    let mut names: Vec<String> = DELEGACIONES_FIELDS
        .iter()
        .chain(FACULTY_FIELDS)
        .map(|d| d.name.to_owned())
        .collect();
    names.push(KEY_FIELD.into());
    for i in 0..6 {
        for (p, _) in ROW_FIELDS {
            names.push(format!("{p}_d{i}"));
        }
    }
    names
}

static NAMES: LazyLock<Vec<String>> = LazyLock::new(all_names);

fn name_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (0..NAMES.len()).prop_map(|i| NAMES[i].clone()),
        1 => "[a-z_]{1,14}(_d[0-9]{1,3})?",
        1 => any::<String>(),
    ]
}

fn value_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "", " ", "individual", "pareja", "si", "no", "SOCHUM", "Crisis", "FIA", "Cumbre",
            "ONU-Hábitat", "17", "4", "5", "99", "+529991234567", "a@example.com",
            "SOCHUM:Islandia", "FIA:Lando Norris", "FIA:Williams Racing", "No estudio",
            "Preparatoria", "SOCHUM:", ":", "Cumbre:Vanessa Nakate (justicia climática)",
        ])
        .prop_map(str::to_owned),
        3 => any::<String>(),
        1 => (any::<char>(), 0..10_000usize).prop_map(|(c, n)| c.to_string().repeat(n)),
    ]
}

fn base_form(which: u8) -> RawForm {
    match which % 5 {
        0 => RawForm::default(),
        1 => ind(&[]),
        2 => par(&[]),
        3 => faculty(4),
        _ => faculty(5),
    }
}

fn assert_outcome(r: &Result<Validated, Rejection>) {
    match r {
        Ok(v) => {
            assert_eq!(v.fingerprint.len(), 64);
            assert!(v.fingerprint.bytes().all(|b| b.is_ascii_hexdigit()));
        }
        Err(e) => {
            assert!(RULES.contains(&(e.code, e.message)), "{e:?}");
            assert!(e.field.is_some(), "{e:?}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_forms_never_panic_and_either_validate_or_reject(
        which in any::<u8>(),
        pushes in prop::collection::vec((name_strategy(), value_strategy()), 0..8),
        file in prop_oneof![
            Just(None),
            Just(Some(PDF.to_vec())),
            prop::collection::vec(any::<u8>(), 0..16).prop_map(Some),
        ],
    ) {
        let mut f = base_form(which);
        for (k, v) in pushes {
            f.push(k, v);
        }
        if which & 0x80 != 0 {
            f.file = file.map(|bytes| Upload {
                filename: Some("r.pdf".into()),
                content_type: Some("application/pdf".into()),
                bytes,
            });
        }
        assert_outcome(&parse_delegaciones(&f, &EXAMPLE));
        if let Some(real) = REAL.as_ref() {
            assert_outcome(&parse_delegaciones(&f, real));
        }
        assert_outcome(&parse_faculty(&f));
    }

    #[test]
    fn parsing_is_deterministic(
        which in any::<u8>(),
        pushes in prop::collection::vec((name_strategy(), value_strategy()), 0..4),
    ) {
        let mut f = base_form(which);
        for (k, v) in pushes {
            f.push(k, v);
        }
        let copy = f.clone();
        let outcome = |r: Result<Validated, Rejection>| r.map(|v| (v.fingerprint, v.data));
        prop_assert_eq!(
            outcome(parse_delegaciones(&f, &EXAMPLE)),
            outcome(parse_delegaciones(&copy, &EXAMPLE))
        );
        prop_assert_eq!(outcome(parse_faculty(&f)), outcome(parse_faculty(&copy)));
    }

    #[test]
    fn an_over_long_field_is_rejected_and_named(
        which in 0u8..3,
        index in any::<prop::sample::Index>(),
        c in prop::char::any(),
    ) {
        let (form, name, max) = match which {
            0 | 1 => {
                let limited: Vec<_> = DELEGACIONES_FIELDS.iter().filter(|d| d.max.is_some()).collect();
                let d = index.get(&limited);
                (base_form(which + 1), d.name.to_owned(), d.max.unwrap())
            }
            _ => {
                let mut limited: Vec<(String, usize)> = FACULTY_FIELDS
                    .iter()
                    .map(|d| (d.name.to_owned(), d.max.unwrap()))
                    .collect();
                for i in 0..4 {
                    limited.extend(ROW_FIELDS.iter().map(|(p, m)| (format!("{p}_d{i}"), *m)));
                }
                let (n, m) = index.get(&limited).clone();
                (faculty(4), n, m)
            }
        };
        let f = with(form, &[(name.as_str(), &c.to_string().repeat(max + 1))]);
        let r = if which == 2 { parse_faculty(&f) } else { parse_delegaciones(&f, &EXAMPLE) };
        let r = r.expect_err("over-long field accepted");
        let want = if name.starts_with("edad_") { rules::EDAD_INVALIDA } else { rules::CAMPO_DEMASIADO_LARGO };
        prop_assert_eq!(r.code, want.0);
        prop_assert_eq!(r.field.as_deref(), Some(name.as_str()));
    }
}

#[test]
fn item_14_an_age_that_is_too_long_and_not_a_number_is_an_invalid_age() {
    let long = "1".repeat(31);
    check_cases(vec![
        (
            "edad_0 17a",
            parse_delegaciones(&ind(&[("edad_0", "17a")]), &EXAMPLE),
            rules::EDAD_INVALIDA,
            "edad_0",
        ),
        (
            "edad_0 123",
            parse_delegaciones(&ind(&[("edad_0", "123")]), &EXAMPLE),
            rules::EDAD_INVALIDA,
            "edad_0",
        ),
        (
            "edad_1 17a in pareja",
            parse_delegaciones(&par(&[("edad_1", "17a")]), &EXAMPLE),
            rules::EDAD_INVALIDA,
            "edad_1",
        ),
        (
            "edad_1 17a in individual",
            parse_delegaciones(&ind(&[("edad_1", "17a")]), &EXAMPLE),
            rules::EDAD_INVALIDA,
            "edad_1",
        ),
        (
            "edad_d2 17a",
            parse_faculty(&fac(&[("edad_d2", "17a")])),
            rules::EDAD_INVALIDA,
            "edad_d2",
        ),
        // Still at R0's position: before the receipt and the key…
        (
            "edad_0 17a without a receipt",
            parse_delegaciones(&without_file(ind(&[("edad_0", "17a")])), &EXAMPLE),
            rules::EDAD_INVALIDA,
            "edad_0",
        ),
        (
            "edad_0 17a with a bad key",
            parse_delegaciones(&ind(&[("edad_0", "17a"), (KEY_FIELD, "a b")]), &EXAMPLE),
            rules::EDAD_INVALIDA,
            "edad_0",
        ),
        // …and after the declared fields before it.
        (
            "edad_0 17a after a too-long celular_0… no: edad_0 comes first",
            parse_delegaciones(&ind(&[("edad_0", "17a"), ("celular_0", &long)]), &EXAMPLE),
            rules::EDAD_INVALIDA,
            "edad_0",
        ),
        (
            "a too-long apellido_0 before edad_0",
            parse_delegaciones(
                &ind(&[("edad_0", "17a"), ("apellido_0", &"x".repeat(151))]),
                &EXAMPLE,
            ),
            rules::CAMPO_DEMASIADO_LARGO,
            "apellido_0",
        ),
        (
            "a too-long apellido_d2 before edad_d2",
            parse_faculty(&fac(&[
                ("edad_d2", "17a"),
                ("apellido_d2", &"x".repeat(151)),
            ])),
            rules::CAMPO_DEMASIADO_LARGO,
            "apellido_d2",
        ),
        // Other fields keep the length code.
        (
            "a too-long celular_0",
            parse_delegaciones(&ind(&[("celular_0", &long)]), &EXAMPLE),
            rules::CAMPO_DEMASIADO_LARGO,
            "celular_0",
        ),
        (
            "a too-long numero_delegaciones",
            parse_faculty(&fac(&[("numero_delegaciones", "4a1")])),
            rules::CAMPO_DEMASIADO_LARGO,
            "numero_delegaciones",
        ),
    ]);
}

/// Every declared field of a form with the limits the catalog JSON serves for it.
fn served_fields(list: &serde_json::Value) -> Vec<(String, bool, Option<usize>)> {
    list.as_array()
        .expect("a list of fields")
        .iter()
        .map(|f| {
            (
                f["nombre"].as_str().unwrap().replace("{i}", "0"),
                f["requerido"].as_bool().unwrap(),
                f["max"].as_u64().map(|m| m as usize),
            )
        })
        .collect()
}

#[test]
fn item_13_the_form_values_served_with_the_catalog_are_the_ones_the_validator_enforces() {
    let served = EXAMPLE.public_json();
    let v = &served["formulario"];
    assert_eq!(
        v,
        &formulario_json(),
        "the catalog serves the form's own values"
    );
    let ok = |f: RawForm| parse_delegaciones(&f, &EXAMPLE);
    let code = |r: Result<Validated, Rejection>| r.map(|_| "ok").unwrap_or_else(|e| e.code);
    let strs = |x: &serde_json::Value| -> Vec<String> {
        x.as_array()
            .unwrap_or_else(|| panic!("a list: {x}"))
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect()
    };

    let modalidades = strs(&v["modalidades"]);
    assert!(!modalidades.is_empty());
    for m in &modalidades {
        let m = Modality::parse(m).unwrap();
        assert_eq!(code(ok(delegaciones(&EXAMPLE, m))), "ok", "{m:?}");
    }
    assert_eq!(
        code(ok(ind(&[("modalidad", "trio")]))),
        "valor_no_permitido"
    );

    let si_no = strs(&v["si_no"]);
    assert_eq!(si_no.len(), 2);
    for x in &si_no {
        let f = ind(&[
            ("delegacion_oficial", x),
            ("nombre_delegacion_oficial", "Colegio"),
            ("responsable_delegacion_oficial", "Prof."),
        ]);
        assert_eq!(code(ok(f)), "ok", "{x}");
    }
    assert_eq!(
        code(ok(ind(&[("delegacion_oficial", "sí")]))),
        "valor_no_permitido"
    );

    let sin_escuela = v["escolaridad_sin_escuela"].as_str().unwrap();
    for e in strs(&v["escolaridades"]) {
        assert_eq!(code(ok(ind(&[("escolaridad_0", &e)]))), "ok", "{e}");
        let without = code(ok(ind(&[("escolaridad_0", &e), ("escuela_0", "")])));
        let want = if e == sin_escuela {
            "ok"
        } else {
            "falta_escuela"
        };
        assert_eq!(without, want, "{e}");
    }
    assert_eq!(
        code(ok(ind(&[("escolaridad_0", "Otra")]))),
        "valor_no_permitido"
    );

    let (min, max) = (
        v["edad"]["min"].as_i64().unwrap(),
        v["edad"]["max"].as_i64().unwrap(),
    );
    for (age, want) in [
        (min - 1, "edad_invalida"),
        (min, "ok"),
        (max, "ok"),
        (max + 1, "edad_invalida"),
    ] {
        let age = age.to_string();
        assert_eq!(code(ok(ind(&[("edad_0", &age)]))), want, "edad_0={age}");
        let row = parse_faculty(&fac(&[("edad_d0", &age)]));
        assert_eq!(code(row), want, "edad_d0={age}");
    }

    let n = v["min_delegaciones"].as_u64().unwrap() as usize;
    assert_eq!(code(parse_faculty(&faculty(n))), "ok");
    assert_eq!(
        code(parse_faculty(&faculty(n - 1))),
        "numero_delegaciones_invalido"
    );

    let key_max = v["idempotency_key"]["max"].as_u64().unwrap() as usize;
    assert_eq!(v["idempotency_key"]["campo"], KEY_FIELD);
    assert_eq!(code(ok(ind(&[(KEY_FIELD, &"k".repeat(key_max))]))), "ok");
    let r = ok(ind(&[(KEY_FIELD, &"k".repeat(key_max + 1))])).unwrap_err();
    assert_eq!(
        (r.code, r.field.as_deref()),
        ("campo_demasiado_largo", Some(KEY_FIELD))
    );

    let bytes = v["comprobante"]["max_bytes"].as_u64().unwrap() as usize;
    assert_eq!(v["comprobante"]["campo"], FILE_FIELD);
    let mut big = PDF.to_vec();
    big.resize(bytes, b' ');
    let at_limit = with_file(ind(&[]), "r.pdf", "application/pdf", &big);
    assert_eq!(code(ok(at_limit)), "ok");
    big.push(b' ');
    let over = with_file(ind(&[]), "r.pdf", "application/pdf", &big);
    assert_eq!(code(ok(over)), "comprobante_muy_grande");

    // Every served (extension, MIME) pair passes with content of its kind; a MIME the pair
    // does not list, and an extension not served, are refused.
    let sample = |extension: &str| -> &[u8] {
        match extension {
            ".pdf" => PDF,
            ".png" => b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR",
            ".jpg" | ".jpeg" => b"\xff\xd8\xff\xe0\0\x10JFIF\0",
            ".webp" => b"RIFF\x24\0\0\0WEBPVP8 ",
            ".heic" | ".heif" => b"\0\0\0\x18ftypheic\0\0\0\0mif1heic",
            other => panic!("served extension {other} has no sample here: add one"),
        }
    };
    let tipos = v["comprobante"]["tipos"].as_array().unwrap();
    let served: Vec<(String, Vec<String>)> = tipos
        .iter()
        .map(|t| {
            (
                t["extension"].as_str().unwrap().to_owned(),
                strs(&t["mime"]),
            )
        })
        .collect();
    assert_eq!(
        served.iter().map(|(e, _)| e.as_str()).collect::<Vec<_>>(),
        [".pdf", ".png", ".jpg", ".jpeg", ".webp", ".heic", ".heif"]
    );
    for (extension, mimes) in &served {
        assert!(!mimes.is_empty(), "{extension}");
        let name = format!("Recibo{}", extension.to_uppercase());
        for mime in mimes {
            let f = with_file(ind(&[]), &name, mime, sample(extension));
            assert_eq!(code(ok(f)), "ok", "{extension} {mime:?}");
        }
        let f = with_file(ind(&[]), &name, "text/html", sample(extension));
        assert_eq!(code(ok(f)), "comprobante_tipo_invalido", "{extension}");
    }
    let gif = with_file(ind(&[]), "r.gif", "image/gif", b"GIF89a");
    assert_eq!(code(ok(gif)), "comprobante_extension_invalida");

    // The phone rule: digits between the bounds, the separators and whitespace anywhere, the
    // prefix in front; nothing else.
    let cel = &v["celular"];
    let (min, max) = (
        cel["min_digitos"].as_u64().unwrap() as usize,
        cel["max_digitos"].as_u64().unwrap() as usize,
    );
    let prefix = cel["prefijo"].as_str().unwrap();
    for (digits, want) in [
        (min - 1, "celular_invalido"),
        (min, "ok"),
        (max, "ok"),
        (max + 1, "celular_invalido"),
    ] {
        let number = "5".repeat(digits);
        for name in ["celular_0", "celular_contacto_0"] {
            let got = code(ok(ind(&[(name, &number)])));
            assert_eq!(got, want, "{name}={number}");
            let got = code(ok(ind(&[(name, &format!("{prefix}{number}"))])));
            assert_eq!(got, want, "{name}={prefix}{number}");
        }
        assert_eq!(
            code(parse_faculty(&fac(&[("celular_faculty", &number)]))),
            want
        );
        assert_eq!(code(parse_faculty(&fac(&[("celular_d1", &number)]))), want);
    }
    let separadores = cel["separadores"].as_str().unwrap();
    let espacios = cel["espacios"].as_str().unwrap();
    assert_eq!(separadores, "-.()");
    assert!(espacios.starts_with("\t\n\u{b}\u{c}\r "), "{espacios:?}");
    for c in separadores.chars().chain(espacios.chars()) {
        let number = format!("{prefix}{c}52{c}999{c}123{c}4567{c}");
        assert_eq!(code(ok(ind(&[("celular_0", &number)]))), "ok", "{c:?}");
    }
    for bad in [
        "+52+9991234567",
        "52+9991234567",
        "999/123/4567",
        "999_123_4567",
        "٥٥٥١٢٣٤٥٦٧",
    ] {
        assert_eq!(
            code(ok(ind(&[("celular_0", bad)]))),
            "celular_invalido",
            "{bad}"
        );
    }
    // And the exact set: between digits, a character other than a digit passes iff it is
    // served as a separator or a space.
    for c in char::MIN..=char::MAX {
        let served = separadores.contains(c) || espacios.contains(c) || c.is_ascii_digit();
        assert_eq!(valid_phone(&format!("555{c}1234")), served, "{c:?}");
    }

    type Parser<'a> = Box<dyn Fn(&[(&str, &str)]) -> Result<Validated, Rejection> + 'a>;
    let forms: [(&str, Parser); 3] = [
        ("delegaciones", Box::new(|c| ok(ind(c)))),
        ("faculty", Box::new(|c| parse_faculty(&fac(c)))),
        ("faculty_fila", Box::new(|c| parse_faculty(&fac(c)))),
    ];
    for (form, parse) in forms {
        let fields = served_fields(&v["campos"][form]);
        assert!(!fields.is_empty(), "{form}");
        for (name, required, max) in fields {
            if let Some(max) = max {
                let r = parse(&[(&name, &"9".repeat(max + 1))]).unwrap_err();
                assert_eq!(
                    r.field.as_deref(),
                    Some(name.as_str()),
                    "{form} {name} max {max}"
                );
                let want = if name.starts_with("edad") {
                    "edad_invalida"
                } else {
                    "campo_demasiado_largo"
                };
                assert_eq!(r.code, want, "{form} {name}");
            }
            let r = parse(&[(&name, "")]);
            if required {
                let r = r.unwrap_err();
                assert_eq!(
                    r.field.as_deref(),
                    Some(name.as_str()),
                    "{form} {name} required"
                );
                assert!(
                    ["campo_faltante", "faltan_datos_delegacion"].contains(&r.code),
                    "{form} {name}: {r:?}"
                );
            } else {
                let missing = r.err().filter(|e| {
                    e.field.as_deref() == Some(name.as_str())
                        && ["campo_faltante", "faltan_datos_delegacion"].contains(&e.code)
                });
                assert_eq!(missing, None, "{form} {name} is optional");
            }
        }
    }
}
