//! The Terraform of `infra/` against the code and the docs (issue 10's acceptance; Terraform
//! itself cannot run here: its registry is unreachable).
//! - Each Cloud Run service gets exactly the variables its configuration reads
//!   (`runtime::cloud::services::*_variables`): none missing, none unused, the secrets from
//!   Secret Manager at pinned versions, and only the variables listed in `NOT_SET_BY_TERRAFORM`
//!   left out, each for a stated reason.
//! - Every IAM grant in the modules is a row of the least-privilege table in docs/security.md §7,
//!   and every row is a grant.
//! - The settings that must agree across resources do (audiences, attempts, the catalog mount).

mod terraform;

use std::collections::BTreeSet;

use ::hcl::Expression;
use runtime::cloud::services::{api_variables, outbox_variables, worker_variables};
use terraform::{Module, attr, block, blocks, infra_dir, reference, required, string};

/// Variables a service reads that Terraform deliberately does not set.
const NOT_SET_BY_TERRAFORM: &[(&str, &str)] = &[
    ("PORT", "Cloud Run sets it (a reserved name)"),
    ("FIRESTORE_EMULATOR_HOST", "emulators only"),
    ("STORAGE_EMULATOR_HOST", "emulators only"),
    ("PUBSUB_EMULATOR_HOST", "emulators only"),
    (
        "OIDC_JWKS_URL",
        "tests serve their own keys; Google's are the default",
    ),
    ("OIDC_DISABLED", "emulators only; refused in production"),
    ("REGISTRO_FAILPOINTS", "tests only; refused in production"),
    (
        "SHEETS_API_URL",
        "the fake in tests; the real API is the default",
    ),
    (
        "RESEND_API_URL",
        "the fake in tests; the real API is the default",
    ),
];

/// Variables holding secrets: always from Secret Manager, never plain.
const SECRET_VARIABLES: &[(&str, &str)] = &[
    ("RECEIPT_LINK_KEY", "receipt-link-key"),
    ("RECEIPT_LINK_PREVIOUS_KEYS", "receipt-link-previous-keys"),
    ("RESEND_API_KEY", "resend-api-key"),
];

fn services() -> [(&'static str, &'static str, Vec<&'static str>); 3] {
    [
        ("api", "registro-api", api_variables()),
        ("outbox", "registro-outbox", outbox_variables()),
        ("worker", "registro-worker", worker_variables()),
    ]
}

/// The container block of the cloud-run-service module's one service.
fn container(run: &Module) -> &::hcl::Body {
    let service = run.resource("google_cloud_run_v2_service", "this");
    block(block(service, "template"), "containers")
}

fn set(items: impl IntoIterator<Item = impl Into<String>>) -> BTreeSet<String> {
    items.into_iter().map(Into::into).collect()
}

#[test]
fn each_service_gets_exactly_the_variables_it_reads_with_secrets_from_secret_manager() {
    let registro = Module::load("modules/registro");
    let not_set = set(NOT_SET_BY_TERRAFORM.iter().map(|(v, _)| *v));
    let all_read: BTreeSet<String> = services()
        .iter()
        .flat_map(|(_, _, v)| set(v.clone()))
        .collect();
    let stale: Vec<_> = not_set.difference(&all_read).collect();
    assert!(
        stale.is_empty(),
        "NOT_SET_BY_TERRAFORM names variables no service reads: {stale:?}"
    );

    for (module, service, reads) in services() {
        let call = registro.module_call(module);
        assert_eq!(string(required(call, "name")).as_deref(), Some(service));
        assert_eq!(
            string(required(call, "command")).as_deref(),
            Some(service),
            "{service} runs its own binary"
        );
        let plain = registro.object(required(call, "env"));
        let secret = attr(call, "secret_env")
            .map(|e| registro.object(e))
            .unwrap_or_default();
        let plain_names = set(plain.keys().cloned());
        let secret_names = set(secret.keys().cloned());
        let reads = set(reads);

        let both: Vec<_> = plain_names.intersection(&secret_names).collect();
        assert!(both.is_empty(), "{service}: set twice: {both:?}");
        let given: BTreeSet<String> = plain_names.union(&secret_names).cloned().collect();
        let unused: Vec<_> = given.difference(&reads).collect();
        assert!(
            unused.is_empty(),
            "{service}: Terraform sets variables it never reads: {unused:?}"
        );
        let wanted: BTreeSet<String> = reads.difference(&not_set).cloned().collect();
        let missing: Vec<_> = wanted.difference(&given).collect();
        assert!(
            missing.is_empty(),
            "{service}: Terraform does not set {missing:?}"
        );

        // Secrets: exactly the secret variables it reads, each from its secret at a pinned
        // version (a rotation is a new version and a new revision, never `latest`).
        let secrets_read = set(SECRET_VARIABLES
            .iter()
            .map(|(v, _)| *v)
            .filter(|v| reads.contains(*v)));
        assert_eq!(secret_names, secrets_read, "{service}: secrets mounted");
        for (var, value) in &secret {
            let secret_object = registro.object(value);
            let label = reference(&secret_object["secret"], "google_secret_manager_secret")
                .unwrap_or_else(|| panic!("{service}: {var} is not read from a managed secret"));
            let declared = registro.resource("google_secret_manager_secret", &label);
            let expected = SECRET_VARIABLES.iter().find(|(v, _)| v == var).unwrap().1;
            assert_eq!(
                string(required(declared, "secret_id")).as_deref(),
                Some(expected),
                "{var}"
            );
            let version = secret_object["version"].to_string();
            assert!(
                version.starts_with("var.secret_versions."),
                "{service}: {var} version {version} is not pinned by var.secret_versions"
            );
        }

        // A service that reads the catalog has the catalog bucket mounted where it points.
        if plain_names.contains("REGISTRO_CATALOG") {
            assert!(
                attr(call, "catalog_bucket").is_some(),
                "{service}: catalog not mounted"
            );
            assert_eq!(plain["REGISTRO_CATALOG"].to_string(), "local.catalog_path");
            assert_eq!(
                required(call, "catalog_mount_path").to_string(),
                "local.catalog_mount"
            );
        }
    }

    // The service module turns both maps into the container's environment.
    let run = Module::load("modules/cloud-run-service");
    let dynamic_env: Vec<String> = blocks(container(&run), "dynamic")
        .filter(|b| b.labels.first().map(|l| l.as_str()) == Some("env"))
        .map(|b| required(&b.body, "for_each").to_string())
        .collect();
    assert_eq!(dynamic_env, ["var.env", "var.secret_env"]);
}

#[test]
fn the_callers_tokens_match_what_the_services_accept() {
    let registro = Module::load("modules/registro");
    let env = |module: &str| registro.object(required(registro.module_call(module), "env"));
    let (outbox, worker) = (env("outbox"), env("worker"));

    // Pub/Sub pushes to the worker with the worker's audience and caller.
    let push = registro.resource("google_pubsub_subscription", "worker_push");
    let token = block(block(push, "push_config"), "oidc_token");
    assert_eq!(
        required(token, "audience").to_string(),
        worker["OIDC_AUDIENCE"].to_string()
    );
    assert_eq!(
        reference(
            required(token, "service_account_email"),
            "google_service_account"
        ),
        reference(&worker["OIDC_SERVICE_ACCOUNT"], "google_service_account")
    );
    // …and dead-letters after as many deliveries as the worker counts.
    let dead_letter = block(push, "dead_letter_policy");
    assert_eq!(
        required(dead_letter, "max_delivery_attempts").to_string(),
        "var.worker_max_attempts"
    );
    assert_eq!(
        worker["REGISTRO_WORKER_MAX_ATTEMPTS"].to_string(),
        "tostring(var.worker_max_attempts)"
    );

    // Scheduler and Eventarc call the outbox as its one accepted caller, and the Scheduler's
    // audience is the first one the outbox accepts.
    let scheduler = registro.resource("google_cloud_scheduler_job", "outbox_sweep");
    let token = block(block(scheduler, "http_target"), "oidc_token");
    let caller = reference(&outbox["OIDC_SERVICE_ACCOUNT"], "google_service_account");
    assert_eq!(caller.as_deref(), Some("outbox_invoker"));
    assert_eq!(
        reference(
            required(token, "service_account_email"),
            "google_service_account"
        ),
        caller
    );
    let eventarc = registro.resource("google_eventarc_trigger", "outbox_created");
    assert_eq!(
        reference(
            required(eventarc, "service_account"),
            "google_service_account"
        ),
        caller
    );
    assert_eq!(
        outbox["OIDC_AUDIENCE"].to_string(),
        "join(\",\", local.outbox_audiences)"
    );
    let audiences = registro.local("outbox_audiences").to_string();
    let scheduler_audience = required(token, "audience").to_string();
    assert!(
        audiences.starts_with(&format!("concat([{scheduler_audience}]")),
        "{audiences} vs {scheduler_audience}"
    );

    // The Eventarc trigger watches the collection the services write outbox rows to.
    let document = blocks(eventarc, "matching_criteria")
        .map(|b| &b.body)
        .find(|b| string(required(b, "attribute")).as_deref() == Some("document"))
        .expect("document filter");
    assert!(
        required(document, "value")
            .to_string()
            .contains("var.outbox_collection_name")
    );
    assert_eq!(
        outbox["OUTBOX_COLLECTION_NAME"].to_string(),
        "var.outbox_collection_name"
    );
}

// ---------------------------------------------------------------------------------------------
// IAM

/// One grant: who, which role, on what.
type Grant = (String, String, String);

/// Every grant the modules make, in the words of docs/security.md §7.
fn grants_in_terraform() -> BTreeSet<Grant> {
    let registro = Module::load("modules/registro");
    let wif = Module::load("modules/github-wif");
    let account = |m: &Module, label: &str| {
        string(required(
            m.resource("google_service_account", label),
            "account_id",
        ))
        .unwrap()
    };
    let mut grants = BTreeSet::new();
    for module in [&registro, &wif] {
        for (kind, name, body) in module.resources() {
            if !kind.ends_with("_iam_member") {
                continue;
            }
            let member = required(body, "member");
            let text = member.to_string();
            let who = if let Some(label) = reference(member, "google_service_account") {
                account(module, &label)
            } else if text.contains("var.deployer_service_account") {
                "registro-deployer".into()
            } else if text == "local.pubsub_agent" {
                "Pub/Sub service agent".into()
            } else if text.contains("attribute.environment/") {
                "GitHub jobs in the deploy environment".into()
            } else if text.contains("attribute.repository/") {
                "GitHub workflows of the repository".into()
            } else {
                panic!("{kind}.{name}: unknown member {text}")
            };
            let roles = match string(required(body, "role")) {
                Some(role) => vec![role],
                None => {
                    assert_eq!(
                        required(body, "role").to_string(),
                        "each.value",
                        "{kind}.{name}"
                    );
                    module.strings(required(body, "for_each"))
                }
            };
            // `service_account_id = each.value` over a map of accounts: one grant per account.
            if kind == "google_service_account_iam_member"
                && required(body, "service_account_id").to_string() == "each.value"
            {
                for target in module.object(required(body, "for_each")).values() {
                    let label = reference(target, "google_service_account").unwrap();
                    for role in &roles {
                        grants.insert((
                            who.clone(),
                            role.clone(),
                            format!("service account {}", account(module, &label)),
                        ));
                    }
                }
                continue;
            }
            let on = match kind {
                "google_project_iam_member" => "project".to_owned(),
                "google_storage_bucket_iam_member" => {
                    let bucket = required(body, "bucket");
                    match reference(bucket, "google_storage_bucket") {
                        Some(label) => format!("bucket {label}"),
                        None if bucket.to_string() == "var.state_bucket" => "bucket (state)".into(),
                        None => panic!("{kind}.{name}: bucket {bucket}"),
                    }
                }
                "google_service_account_iam_member" => {
                    let label = reference(
                        required(body, "service_account_id"),
                        "google_service_account",
                    )
                    .unwrap();
                    format!("service account {}", account(module, &label))
                }
                "google_secret_manager_secret_iam_member" => {
                    let label =
                        reference(required(body, "secret_id"), "google_secret_manager_secret")
                            .unwrap();
                    let secret = module.resource("google_secret_manager_secret", &label);
                    format!("secret {}", string(required(secret, "secret_id")).unwrap())
                }
                "google_pubsub_topic_iam_member" => format!(
                    "topic {}",
                    reference(required(body, "topic"), "google_pubsub_topic").unwrap()
                ),
                "google_pubsub_subscription_iam_member" => format!(
                    "subscription {}",
                    reference(required(body, "subscription"), "google_pubsub_subscription")
                        .unwrap()
                ),
                // The cloud-run-service module's own grants come from its callers below.
                "google_cloud_run_v2_service_iam_member" => continue,
                other => panic!("{other}.{name}: a grant kind the table does not describe"),
            };
            for role in roles {
                grants.insert((who.clone(), role, on.clone()));
            }
        }
    }
    // run.invoker, granted by the cloud-run-service module from its callers' arguments.
    for (module, service, _) in services() {
        let call = registro.module_call(module);
        if attr(call, "public").map(|e| e.to_string()) == Some("true".into()) {
            grants.insert((
                "allUsers".into(),
                "roles/run.invoker".into(),
                format!("service {service}"),
            ));
        }
        if let Some(invokers) = attr(call, "invokers") {
            let Expression::Array(members) = invokers else {
                panic!("{service}: invokers")
            };
            for member in members {
                let label = reference(member, "google_service_account").expect("a service account");
                grants.insert((
                    account(&registro, &label),
                    "roles/run.invoker".into(),
                    format!("service {service}"),
                ));
            }
        }
    }
    grants
}

/// The rows of the table between `<!-- iam-table:start -->` and `<!-- iam-table:end -->` in
/// docs/security.md: | principal | role | on | why |.
fn grants_in_the_docs() -> BTreeSet<Grant> {
    let path = infra_dir().join("../docs/security.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let start = text
        .find("<!-- iam-table:start -->")
        .expect("iam-table:start marker");
    let end = text
        .find("<!-- iam-table:end -->")
        .expect("iam-table:end marker");
    let clean = |cell: &str| cell.trim().replace('`', "");
    let mut rows = BTreeSet::new();
    for line in text[start..end].lines().filter(|l| l.starts_with('|')) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').collect();
        assert!(cells.len() >= 4, "{line}");
        let (who, role, on) = (clean(cells[0]), clean(cells[1]), clean(cells[2]));
        if who == "principal" || who.starts_with("---") {
            continue;
        }
        assert!(!cells[3].trim().is_empty(), "{line}: every grant says why");
        assert!(rows.insert((who, role, on)), "{line}: listed twice");
    }
    rows
}

#[test]
fn every_iam_grant_is_in_the_least_privilege_table_and_every_row_is_granted() {
    let terraform = grants_in_terraform();
    let docs = grants_in_the_docs();
    let undocumented: Vec<_> = terraform.difference(&docs).collect();
    let not_granted: Vec<_> = docs.difference(&terraform).collect();
    assert!(
        undocumented.is_empty() && not_granted.is_empty(),
        "granted but not in docs/security.md §7: {undocumented:#?}\n\
         in docs/security.md §7 but not granted: {not_granted:#?}"
    );
    // No basic role anywhere; below the deployer, project-wide roles are only these.
    for (who, role, on) in &terraform {
        assert!(
            !["roles/owner", "roles/editor", "roles/viewer"].contains(&role.as_str()),
            "{who} has {role}"
        );
        let project_wide_allowed = match who.as_str() {
            "registro-deployer" => continue,
            "registro-api" | "registro-outbox" | "registro-worker" => "roles/datastore.user",
            "registro-outbox-invoker" => "roles/eventarc.eventReceiver",
            "registro-planner" => "roles/browser",
            _ => "(none)",
        };
        assert!(
            on != "project" || role == project_wide_allowed,
            "{who}: {role} on the project"
        );
    }
}

#[test]
fn the_image_holds_the_binary_each_service_runs_where_cloud_run_looks_for_it() {
    let dockerfile = std::fs::read_to_string(infra_dir().join("../Dockerfile")).unwrap();
    let installed = dockerfile
        .lines()
        .find(|l| l.trim_start().starts_with("&& for bin in "))
        .expect("the build stage's install loop");
    assert!(dockerfile.contains("COPY --from=build /out/bin/ /usr/local/bin/"));
    let run = Module::load("modules/cloud-run-service");
    let command: String = required(container(&run), "command")
        .to_string()
        .split_whitespace()
        .collect();
    assert_eq!(command, "[\"/usr/local/bin/${var.command}\"]");
    let registro = Module::load("modules/registro");
    for (module, service, _) in services() {
        let command = string(required(registro.module_call(module), "command")).unwrap();
        assert!(
            installed
                .split_whitespace()
                .any(|w| w.trim_end_matches(';') == command),
            "{service}: the Dockerfile does not install {command}"
        );
        assert!(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(format!("src/bin/{command}.rs"))
                .is_file(),
            "{command} is not a binary of this package"
        );
    }
    // The embedded image keeps working: `registro serve` is the default.
    assert!(dockerfile.contains("ENTRYPOINT [\"registro\"]"));
    assert!(dockerfile.contains("CMD [\"serve\""));
}

// ---------------------------------------------------------------------------------------------
// Module interfaces (what `terraform validate` would say about them, were the provider here)

/// `variable` blocks of a module: name → whether it has a default.
fn variables(module: &Module) -> std::collections::BTreeMap<String, bool> {
    module
        .blocks
        .iter()
        .filter(|b| b.identifier.as_str() == "variable")
        .map(|b| {
            (
                b.labels[0].as_str().to_owned(),
                attr(&b.body, "default").is_some(),
            )
        })
        .collect()
}

#[test]
fn every_module_call_passes_each_required_variable_and_no_unknown_one() {
    const META: &[&str] = &["source", "depends_on", "providers", "count", "for_each"];
    for caller in ["environments/shared", "modules/registro"] {
        let calling = Module::load(caller);
        for block in calling
            .blocks
            .iter()
            .filter(|b| b.identifier.as_str() == "module")
        {
            let name = block.labels[0].as_str();
            let source = string(required(&block.body, "source")).unwrap();
            let callee = Module::load(&format!("{caller}/{source}"));
            let declared = variables(&callee);
            let passed = set(block.body.attributes().map(|a| a.key().to_owned()));
            let unknown: Vec<_> = passed
                .iter()
                .filter(|p| !META.contains(&p.as_str()) && !declared.contains_key(*p))
                .collect();
            assert!(
                unknown.is_empty(),
                "{caller}: module {name} has no variable {unknown:?}"
            );
            let missing: Vec<_> = declared
                .iter()
                .filter(|(v, has_default)| !**has_default && !passed.contains(*v))
                .map(|(v, _)| v)
                .collect();
            assert!(
                missing.is_empty(),
                "{caller}: module {name} needs {missing:?}"
            );
        }
    }
}

#[test]
fn each_example_tfvars_sets_every_setting_the_root_requires() {
    // Given on the command line or the environment instead (runbook §8.1, delivery.yml).
    const GIVEN_ELSEWHERE: &[&str] = &["image_tag", "catalog_file"];
    let root = variables(&Module::load("environments/shared"));
    for env in ["dev", "prod"] {
        let path = infra_dir().join(format!("environments/{env}/terraform.tfvars.example"));
        let body: ::hcl::Body = ::hcl::parse(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let set_here = set(body.attributes().map(|a| a.key().to_owned()));
        for name in &set_here {
            assert!(
                root.contains_key(name),
                "{env}: {name} is not a variable of the root"
            );
            assert!(
                !GIVEN_ELSEWHERE.contains(&name.as_str()),
                "{env}: {name} is given elsewhere"
            );
        }
        for (name, has_default) in &root {
            assert!(
                *has_default || set_here.contains(name) || GIVEN_ELSEWHERE.contains(&name.as_str()),
                "{env}: terraform.tfvars.example does not set the required {name}"
            );
        }
        // Each root links the shared files and adds only its own environment.tf.
        for shared in ["main.tf", "variables.tf", "outputs.tf", "versions.tf"] {
            let link = infra_dir().join(format!("environments/{env}/{shared}"));
            assert_eq!(
                std::fs::read_link(&link).ok(),
                Some(std::path::PathBuf::from(format!("../shared/{shared}"))),
                "{}",
                link.display()
            );
        }
    }
}
