//! The deploy check (`scripts/deploy_check.py`): `template.yaml` transformed by
//! aws-sam-translator and created as a stack in moto's CloudFormation reaches `CREATE_COMPLETE`;
//! its HTTP API has exactly the route table's routes (plus the console's and `$default`), none
//! ending in `/`; read-only routes cannot write; no `Resource: "*"` but the listed ones; the table
//! and the queues are retained. `scripts/test` installs aws-sam-cli (with the translator) into
//! `.venv-sam`.

use std::process::Command;

#[test]
fn the_template_deploys_in_cloudformation_and_its_routes_and_policies_are_as_the_table_says() {
    let root = herald_tests::repo_root();
    let python = herald_tests::installed(".venv-sam/bin/python");
    let endpoint = herald_tests::moto_endpoint();
    let output = Command::new(&python)
        .arg(root.join("scripts/deploy_check.py"))
        .env("HERALD_MOTO_ENDPOINT", &endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .unwrap_or_else(|e| panic!("deploy_check.py: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("stack CREATE_COMPLETE"), "{stdout}");
    assert!(stdout.contains(", 0 findings"), "{stdout}");
}
