//! One row per rule of reference/api.md §2 (and the rules that close its gaps), posted over
//! HTTP to a running server: each must answer the invalid-form redirect with its code and log
//! `validation_failed` with the rule's message as `reason` for that very request.

use crate::support::*;
use domain::form::rules as r;
use testkit::forms::{FormFixture, PNG, pdf};
use testkit::spawn::Options;

type Rule = (&'static str, &'static str);

struct Case {
    name: &'static str,
    path: &'static str,
    form: FormFixture,
    rule: Rule,
}

fn case(name: &'static str, path: &'static str, form: FormFixture, rule: Rule) -> Case {
    Case {
        name,
        path,
        form,
        rule,
    }
}

async fn check(env: &Env, cases: Vec<Case>) {
    let mut failures = vec![];
    for (i, c) in cases.into_iter().enumerate() {
        let rid = format!("rule-{i}");
        let posted = env.post_with_id(c.path, &c.form, &rid).await;
        let form = if c.path == FACULTY {
            "faculty"
        } else {
            "delegaciones"
        };
        let want = format!("{ORIGIN}/registro/error/?code={}&form={form}", c.rule.0);
        // The field the rule failed on follows as `campo=` (hardening item 12).
        let campo = posted
            .location
            .strip_prefix(&want)
            .and_then(|rest| rest.strip_prefix("&campo="))
            .map(str::to_owned);
        if posted.location != want && campo.is_none() {
            failures.push(format!(
                "{}: redirect {} (want {want}[&campo=…])",
                c.name, posted.location
            ));
            continue;
        }
        let logged = env
            .app
            .wait_for_log(std::time::Duration::from_secs(5), |l| {
                l["request_id"] == rid.as_str() && l["message"] == "validation_failed"
            });
        match logged {
            Some(l)
                if l["reason"] == c.rule.1
                    && l["code"] == c.rule.0
                    && campo.as_deref().is_none_or(|f| l["field"] == f) => {}
            other => failures.push(format!(
                "{}: log {other:?} (want reason {:?})",
                c.name, c.rule.1
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} rule(s) misbehaved:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        env.count("submissions"),
        0,
        "no rejected form writes anything"
    );
    assert!(env.blob_files().is_empty());
}

#[tokio::test]
async fn every_delegaciones_rule_redirects_with_its_code_and_logs_its_message() {
    let env = Env::start(Options::default());
    let ind = || FormFixture::individual(&env.catalog, &key(1));
    let par = || FormFixture::pareja(&env.catalog, &key(2));
    let d = DELEGACIONES;
    // Example catalog: individual picks SOCHUM, ONU-Hábitat, Crisis; pareja picks SOCHUM,
    // ONU-Hábitat, FIA (escuderías and sponsors only).
    let cases = vec![
        case(
            "R0 missing modalidad",
            d,
            ind().remove("modalidad"),
            r::CAMPO_FALTANTE,
        ),
        case(
            "R0 empty required field counts as absent",
            d,
            ind().set("apellido_0", ""),
            r::CAMPO_FALTANTE,
        ),
        case(
            "R0 151 characters",
            d,
            ind().set("nombre_0", &"é".repeat(151)),
            r::CAMPO_DEMASIADO_LARGO,
        ),
        case(
            "R0 lower-case escolaridad",
            d,
            ind().set("escolaridad_0", "preparatoria"),
            r::VALOR_NO_PERMITIDO,
        ),
        case(
            "R0 unknown committee",
            d,
            ind().set("comite_0", "ONU-Habitat"),
            r::VALOR_NO_PERMITIDO,
        ),
        case(
            "R0 invalid e-mail",
            d,
            ind().set("correo_0", "no-es-correo"),
            r::CAMPO_CORREO_INVALIDO,
        ),
        case(
            "R0 last duplicate wins",
            d,
            ind().push("modalidad", "trio"),
            r::VALOR_NO_PERMITIDO,
        ),
        case(
            "R1 key with a space",
            d,
            ind().set("idempotency_key", "a b"),
            r::LLAVE_INVALIDA,
        ),
        case(
            "R1 key with a symbol",
            d,
            ind().set("idempotency_key", "abc$"),
            r::LLAVE_INVALIDA,
        ),
        case("R2 no receipt", d, ind().no_file(), r::COMPROBANTE_FALTANTE),
        case(
            "R2 unknown extension",
            d,
            ind().file("r.gif", Some("image/gif"), b"GIF89a".to_vec()),
            r::COMPROBANTE_EXTENSION_INVALIDA,
        ),
        case(
            "R2 MIME of another type",
            d,
            ind().file("r.pdf", Some("image/png"), pdf(500)),
            r::COMPROBANTE_TIPO_INVALIDO,
        ),
        case(
            "R2 empty file",
            d,
            ind().file("r.pdf", Some("application/pdf"), vec![]),
            r::COMPROBANTE_VACIO,
        ),
        case(
            "R2 content is not what the name says",
            d,
            ind().file("r.pdf", Some("application/pdf"), PNG.to_vec()),
            r::COMPROBANTE_CONTENIDO_INVALIDO,
        ),
        case(
            "R3 individual-only committee in pareja",
            d,
            par()
                .set("comite_2", "Crisis")
                .set("comite_2_pais_0", "Crisis:Secretaría de Energía")
                .set("comite_2_pais_1", "Crisis:Secretaría de Hacienda")
                .set("comite_2_pais_2", "Crisis:Secretaría de Protección Civil"),
            r::COMITE_NO_PERMITIDO_EN_CODELEGACION,
        ),
        case(
            "R4 repeated committee",
            d,
            ind().set("comite_1", "SOCHUM"),
            r::COMITES_REPETIDOS,
        ),
        case(
            "R5 official delegation without names",
            d,
            ind().set("delegacion_oficial", "si"),
            r::FALTAN_DATOS_DELEGACION_OFICIAL,
        ),
        case(
            "R6 repeated delegation",
            d,
            ind()
                .set("comite_0_pais_1", "SOCHUM:Islandia")
                .set("comite_0_pais_0", "SOCHUM:Islandia"),
            r::DELEGACIONES_REPETIDAS,
        ),
        case(
            "third option required",
            d,
            ind().remove("comite_1_pais_2"),
            r::FALTAN_OPCIONES_DELEGACION,
        ),
        case(
            "R7 age above 26",
            d,
            ind().set("edad_0", "27"),
            r::EDAD_INVALIDA,
        ),
        case(
            "R7 age below 11",
            d,
            ind().set("edad_0", "10"),
            r::EDAD_INVALIDA,
        ),
        case(
            "R7 age not ASCII digits",
            d,
            ind().set("edad_0", "١٧"),
            r::EDAD_INVALIDA,
        ),
        case(
            "R7 age with a sign",
            d,
            ind().set("edad_0", "+9"),
            r::EDAD_INVALIDA,
        ),
        case(
            "R8 codelegate age missing",
            d,
            par().remove("edad_1"),
            r::EDAD_INVALIDA,
        ),
        case(
            "R9 codelegate data missing",
            d,
            par().set("nombre_1", "   "),
            r::FALTAN_DATOS_CODELEGACION,
        ),
        case(
            "codelegate e-mail invalid",
            d,
            par().set("correo_1", "cualquier cosa"),
            r::CORREO_INVALIDO,
        ),
        case(
            "phone not a phone",
            d,
            ind().set("celular_0", "llámame"),
            r::CELULAR_INVALIDO,
        ),
        case(
            "school required unless not studying",
            d,
            ind().remove("escuela_0"),
            r::FALTA_ESCUELA,
        ),
        case(
            "R10 value without a colon",
            d,
            ind().set("comite_0_pais_0", "Islandia"),
            r::DELEGACION_INVALIDA,
        ),
        case(
            "R10 prefix of another committee",
            d,
            ind().set("comite_0_pais_0", "FIA:DHL"),
            r::DELEGACION_INVALIDA,
        ),
        case(
            "name missing from the committee",
            d,
            ind().set("comite_0_pais_0", "SOCHUM:Atlántida"),
            r::DELEGACION_NO_ENCONTRADA,
        ),
        case(
            "R11 individual-only tipo in pareja",
            d,
            par().set("comite_2_pais_0", "FIA:Lando Norris"),
            r::DELEGACION_NO_DISPONIBLE_EN_CODELEGACION,
        ),
    ];
    check(&env, cases).await;
}

#[tokio::test]
async fn every_faculty_rule_redirects_with_its_code_and_logs_its_message() {
    let env = Env::start(Options::default());
    let f = || FormFixture::faculty(&key(3), 4);
    let p = FACULTY;
    let cases = vec![
        case(
            "F0 missing institution",
            p,
            f().remove("institucion_delegacion_oficial"),
            r::CAMPO_FALTANTE,
        ),
        case(
            "F0 phone over 30 characters",
            p,
            f().set("celular_faculty", &"1".repeat(31)),
            r::CAMPO_DEMASIADO_LARGO,
        ),
        case(
            "F0 invalid e-mail",
            p,
            f().set("correo_faculty", "x@"),
            r::CAMPO_CORREO_INVALIDO,
        ),
        case(
            "F1 invalid key",
            p,
            f().set("idempotency_key", "ñ"),
            r::LLAVE_INVALIDA,
        ),
        case("F2 no receipt", p, f().no_file(), r::COMPROBANTE_FALTANTE),
        case(
            "F2 a PDF named .png",
            p,
            f().file("r.png", Some("image/png"), pdf(300)),
            r::COMPROBANTE_CONTENIDO_INVALIDO,
        ),
        case(
            "F3 fewer than four delegations",
            p,
            f().set("numero_delegaciones", "3"),
            r::NUMERO_DELEGACIONES_INVALIDO,
        ),
        case(
            "F3 not a number",
            p,
            f().set("numero_delegaciones", "4a"),
            r::NUMERO_DELEGACIONES_INVALIDO,
        ),
        case(
            "F4 row age out of range",
            p,
            f().set("edad_d1", "99"),
            r::EDAD_INVALIDA,
        ),
        case(
            "F4 incomplete row",
            p,
            f().remove("correo_d2"),
            r::FALTAN_DATOS_DELEGACION,
        ),
        case(
            "F4 row e-mail invalid",
            p,
            f().set("correo_d0", "nope"),
            r::CORREO_INVALIDO,
        ),
        case(
            "F5 a missing row",
            p,
            f().set("numero_delegaciones", "5"),
            r::NUMERO_DELEGACIONES_NO_COINCIDE,
        ),
        case(
            "F5 a row beyond the count",
            p,
            f().set("nombre_d4", "Extra"),
            r::NUMERO_DELEGACIONES_NO_COINCIDE,
        ),
    ];
    check(&env, cases).await;
}
